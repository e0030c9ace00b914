"""Run folders: atomic writes, and reading a finished run back (for A/B plans and decisions)."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from refine.config import RefineConfig, config_from_dict
from refine.errors import RefineError
from refine.files import atomic_write, clean_json, read_json, write_text  # noqa: F401 - also refine.runs' names
from refine.privacy import spreadsheet_safe
from refine.results import RunManifest


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False, default=_json_default, allow_nan=False) + "\n")


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """CSV for spreadsheets: formula-looking cells are neutralised."""
    atomic_write(path, lambda tmp: spreadsheet_safe(frame).to_csv(tmp, index=False))


def _json_default(value: Any):
    import numpy as np

    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@dataclass
class LoadedRun:
    folder: Path
    manifest: RunManifest
    config: RefineConfig
    customers: pd.DataFrame
    proposals: list[dict]


def check_output_folder(folder: str | Path, own: set[str] | list[str], *, what: str) -> None:
    """Refuse a folder that would mix these outputs with someone else's files.

    A new or empty folder is fine, and so is one holding only `own` files (a rerun replaces them);
    a file in the way, or any other file in the folder, is a one-line error before any work is done.
    """
    folder = Path(os.path.normpath(os.path.abspath(folder)))  # "new/../old" is "old", as mkdir will find
    if not folder.exists():
        parent = next((p for p in folder.absolute().parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise RefineError(f"cannot make the {what} folder: {parent} is a file", where=str(folder))
        return
    if not folder.is_dir():
        raise RefineError(f"the output path is a file; give a folder for the {what}", where=str(folder))
    own = set(own)
    others = sorted(p.name for p in folder.iterdir() if p.name not in own and not p.name.startswith("."))
    if others:
        shown = ", ".join(repr(n) for n in others[:3]) + (" ..." if len(others) > 3 else "")
        raise RefineError(
            f"the output folder holds files refine did not write ({shown}); give a new or empty "
            f"folder, or an earlier {what}'s folder to replace it",
            where=str(folder),
        )


def _config_of_run(config: dict, where: str) -> RefineConfig:
    """The config a run recorded; settings deprecated since it was written are dropped without a warning.

    The warning is for a person editing a config file; nobody edits an old run's run.json.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return config_from_dict(config, where=where)


def load_run(folder: str | Path, *, with_customers: bool = True) -> LoadedRun:
    """A finished run: its manifest, config, proposals and (re-read, validated) customer table."""
    from refine.ingest import read_customers

    folder = Path(folder)
    if not (folder / "run.json").exists():
        raise RefineError("not a finished refine run (no run.json)", where=str(folder))
    document = read_json(folder / "run.json", "run manifest")
    if not isinstance(document, dict):
        raise RefineError("run.json is not a refine run manifest", where=str(folder / "run.json"))
    manifest = RunManifest.from_json(document)
    config = _config_of_run(manifest.config, str(folder / "run.json"))
    proposals_doc = read_json(folder / "proposals.json", "proposals file")
    proposals = proposals_doc.get("proposals", []) if isinstance(proposals_doc, dict) else proposals_doc
    if not isinstance(proposals, list) or not all(isinstance(p, dict) for p in proposals):
        raise RefineError("proposals must be a list of objects", where=str(folder / "proposals.json"))
    customers = pd.DataFrame()
    if with_customers:
        path = Path(manifest.inputs["customers"]["path"])
        customers = read_customers(path, config)
    return LoadedRun(folder=folder, manifest=manifest, config=config, customers=customers, proposals=proposals)


def find_proposal(run: LoadedRun, proposal_id: str) -> dict:
    for proposal in run.proposals:
        if proposal.get("id") == proposal_id:
            return proposal
    known = ", ".join(str(p.get("id")) for p in run.proposals) or "none"
    raise RefineError(f"no proposal {proposal_id!r} in this run (proposals: {known})", where=str(run.folder))


def write_run(result) -> None:
    """Every file of a run folder but run.json (written last by the pipeline): tables, JSON, the report.

    Args:
        result: a refine.results.CycleResult.
    """
    from refine import schemas as S
    from refine.report import write_report

    out_dir = result.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    # run.json goes last: a folder without it is an unfinished run
    (out_dir / "run.json").unlink(missing_ok=True)
    for stale in out_dir.glob(".*.tmp"):  # half-written files of a run killed while writing
        stale.unlink(missing_ok=True)
    columns = [
        S.FEEDBACK_ID,
        S.CUSTOMER_ID,
        S.SEGMENT,
        S.TEXT,
        S.SCORE,
        S.TIMESTAMP,
        S.SOURCE,
        S.SENTIMENT_SCORE,
        S.SENTIMENT_LABEL,
        *S.SENTIMENT_PROBS,
        S.TOPIC_ID,
        S.TOPIC_LABEL,
    ]
    # added with languages: after the columns older runs have, so their readers see the same first columns
    columns += [c for c in ("sentiment_confidence", "language") if c in result.feedback.columns]
    write_parquet(out_dir / "feedback.parquet", result.feedback[columns])
    write_csv(out_dir / "rejects.csv", result.rejects)
    topics = result.topics
    write_json(
        out_dir / "topics.json",
        clean_json(
            {
                "topics": [t for t in topics if t.get("status") != "fading"],
                "fading": [t for t in topics if t.get("status") == "fading"],
                "parents": result.parents,
                "method": result.manifest.topic_method,
            }
        ),
    )
    write_parquet(out_dir / "segments.parquet", result.segments)
    write_json(
        out_dir / "proposals.json",
        clean_json(
            {
                "proposals": result.proposals,
                "stopped": result.stopped,
                "method": result.method,
            }
        ),
    )
    write_parquet(out_dir / "assignments.parquet", result.assignments)
    if getattr(result, "insights", None) is not None:
        write_json(out_dir / "insights.json", result.insights.to_json())
    write_report(result)
