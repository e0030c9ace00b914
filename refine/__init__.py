"""refine: feedback-driven customer segment refinement.

The Python API a notebook needs, importable from the package itself::

    from refine import load_config, run_cycle, load_run, plan_experiment, analyze_experiment

    config = load_config("refine.toml")
    result = run_cycle("feedback.csv", "customers.csv", config, "runs/2026-11")
    result.proposals[0]["rule"], result.report_path

Names are imported on first use, so ``import refine`` (and ``refine --help``) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from refine.errors import RefineError

__version__ = "0.2.0"

# public name -> the module that defines it
_API = {
    "load_config": "refine.config",
    "RefineConfig": "refine.config",
    "run_cycle": "refine.pipeline",
    "CycleResult": "refine.results",
    "RunManifest": "refine.results",
    "SentenceTable": "refine.sentences",
    "load_run": "refine.runs",
    "LoadedRun": "refine.runs",
    "plan_experiment": "refine.experiment",
    "analyze_experiment": "refine.experiment",
    "write_ab_report": "refine.experiment",
    "apply_rule": "refine.rules",
    "HashingEmbedder": "refine.embed",
}

__all__ = [
    "RefineError",
    "__version__",
    "load_config",
    "RefineConfig",
    "run_cycle",
    "CycleResult",
    "RunManifest",
    "SentenceTable",
    "load_run",
    "LoadedRun",
    "plan_experiment",
    "analyze_experiment",
    "write_ab_report",
    "apply_rule",
    "HashingEmbedder",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from refine.config import RefineConfig, load_config
    from refine.embed import HashingEmbedder
    from refine.experiment import analyze_experiment, plan_experiment, write_ab_report
    from refine.pipeline import run_cycle
    from refine.results import CycleResult, RunManifest
    from refine.rules import apply_rule
    from refine.runs import LoadedRun, load_run
    from refine.sentences import SentenceTable


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'refine' has no attribute {name!r}")
