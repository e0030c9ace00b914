"""refine: feedback-driven customer segment refinement.

The Python API a notebook needs, importable from the package itself::

    from refine import load_config, run_cycle, load_run, plan_experiment, analyze_experiment

    config = load_config("refine.toml")
    result = run_cycle("feedback.csv", "customers.csv", config, "runs/2026-11")
    result.proposals[0].rule, result.report_path

Names are imported on first use, so ``import refine`` (and ``refine --help``) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from refine.errors import RefineError

__version__ = "0.3.0"

# public name -> the module that defines it
_API = {
    "load_config": "refine.io.config",
    "RefineConfig": "refine.io.config",
    "run_cycle": "refine.run.cycle",
    "CycleResult": "refine.run.results",
    "RunManifest": "refine.io.runs",
    "SentenceTable": "refine.text.sentences",
    "load_run": "refine.io.runs",
    "LoadedRun": "refine.io.runs",
    "plan_experiment": "refine.experiment",
    "analyze_experiment": "refine.experiment",
    "write_ab_report": "refine.experiment",
    "ABReport": "refine.experiment",
    "Proposal": "refine.segments.model",
    "ProposalResult": "refine.segments.model",
    "apply_rule": "refine.segments.rules",
    "HashingEmbedder": "refine.text.embed",
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
    "ABReport",
    "Proposal",
    "ProposalResult",
    "apply_rule",
    "HashingEmbedder",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from refine.experiment import ABReport, analyze_experiment, plan_experiment, write_ab_report
    from refine.io.config import RefineConfig, load_config
    from refine.io.runs import LoadedRun, RunManifest, load_run
    from refine.run.cycle import run_cycle
    from refine.run.results import CycleResult
    from refine.segments.model import Proposal, ProposalResult
    from refine.segments.rules import apply_rule
    from refine.text.embed import HashingEmbedder
    from refine.text.sentences import SentenceTable


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'refine' has no attribute {name!r}")
