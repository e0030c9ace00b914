"""Run folders: run.json as RunManifest, the writers every run file goes through, and a finished run read back
(for A/B plans, decisions and assign). The run folder is written from a CycleResult by refine.run.folders."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from refine.errors import RefineError
from refine.files import atomic_write, clean_json, read_json, write_text  # noqa: F401 - also refine.io.runs' names
from refine.io.config import RefineConfig, config_from_dict
from refine.io.ingest import read_customers
from refine.io.outputs import check_writable
from refine.io.privacy import spreadsheet_safe


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False, default=_json_default, allow_nan=False) + "\n")


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_csv(path: Path, frame: pd.DataFrame, *, keys: Sequence[str] = ()) -> None:
    """CSV for spreadsheets: formula-looking cells of free text and labels are neutralised (a leading ').

    `keys` (ids, segment names: values another system matches on) are written exactly as they are, even
    when they start with = + - @ (an E.164 phone number, a handle): docs/troubleshooting.md says how to
    open such a file safely.
    """
    safe = spreadsheet_safe(frame.drop(columns=[k for k in keys if k in frame.columns]))
    for column in keys:
        if column in frame.columns:
            safe[column] = frame[column]
    atomic_write(path, lambda tmp: safe[list(frame.columns)].to_csv(tmp, index=False))


def _json_default(value: Any):
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
class RunManifest:
    """run.json: inputs with hashes, row counts, config, seed, versions, model ids, caches and timings."""

    refine_version: str
    started: str
    inputs: dict[str, dict] = field(default_factory=dict)  # feedback / customers: path, sha256, rows, encoding
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    config_source: str = ""
    seed: int = 0
    models: dict[str, str] = field(default_factory=dict)  # embedding, sentiment
    llm: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)
    embedding_cache: dict[str, Any] = field(default_factory=dict)
    sentiment_cache: dict[str, Any] | str = "off"
    sentiment: dict[str, Any] = field(default_factory=dict)  # SentimentResult.to_json(): languages, routes, models
    theme_space: dict[str, Any] = field(default_factory=dict)  # the space themes were clustered in
    stage_cache: dict[str, str] | str = "off"
    topic_method: dict[str, Any] = field(default_factory=dict)
    proposal_method: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    previous: str | None = None
    applied_decisions: list[dict] = field(default_factory=list)
    # per column a proposal's rule names: kind and distinct values as the table held them (refine assign checks them)
    rule_columns: dict[str, dict] = field(default_factory=dict)
    rule_digests: dict[str, str] = field(default_factory=dict)  # proposal id -> proposal_digest (new key)
    timings: dict[str, float] = field(default_factory=dict)
    # peak resident memory of the process so far (MiB) as each stage ended: the stage where it rises set the peak
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    finished: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys written by a newer refine, kept as read

    def to_json(self) -> dict[str, Any]:
        """The run.json document (the same keys as every earlier version, plus newer ones)."""

        document = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        if self.finished is None:
            document.pop("finished")
        for key in (
            "sentiment",
            "theme_space",
            "rule_columns",
            "rule_digests",
            "peak_rss_mb",
        ):  # newer keys: absent from runs written before
            if not document[key]:
                document.pop(key)
        document.update(self.extra)
        return clean_json(document)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> RunManifest:
        """A manifest from a run.json document of any version (missing keys are empty)."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {k: v for k, v in document.items() if k in known}
        values.setdefault("refine_version", "unknown")
        values.setdefault("started", "")
        return cls(**values, extra={k: v for k, v in document.items() if k not in known})


@dataclass
class LoadedRun:
    folder: Path
    manifest: RunManifest
    config: RefineConfig
    customers: pd.DataFrame
    proposals: list[dict]


def check_output_folder(
    folder: str | Path, own: set[str] | list[str], *, what: str, force: bool = False, finished: str | None = None
) -> None:
    """Refuse a folder that would mix these outputs with someone else's files, or replace them without --force.

    A new or empty folder is fine. One holding only `own` files is an earlier output: replaced with `force`
    only (when `finished` names the file written last, a folder without it is an unfinished output, replaced
    without --force). A file in the way, any other file in the folder, or a folder refine cannot write in
    is a one-line error before any work is done.
    """
    folder = Path(os.path.normpath(os.path.abspath(folder)))  # "new/../old" is "old", as mkdir will find
    if not folder.exists():
        parent = next((p for p in folder.absolute().parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise RefineError(f"cannot make the {what} folder: {parent} is a file", where=str(folder))
        check_writable(folder, what)
        return
    if not folder.is_dir():
        raise RefineError(f"the output path is a file; give a folder for the {what}", where=str(folder))
    own = set(own)
    others = sorted(p.name for p in folder.iterdir() if p.name not in own and not p.name.startswith("."))
    if others:
        shown = ", ".join(repr(n) for n in others[:3]) + (" ..." if len(others) > 3 else "")
        raise RefineError(
            f"the output folder holds files refine did not write ({shown}); give a new or empty "
            f"folder, or an earlier {what}'s folder with --force to replace it",
            where=str(folder),
        )
    earlier = sorted(p.name for p in folder.iterdir() if p.name in own)
    if earlier and not force and (finished is None or finished in earlier):
        raise RefineError(f"the folder holds an earlier {what}; pass --force to replace it", where=str(folder))
    check_writable(folder, what)


def _config_of_run(config: dict, where: str) -> RefineConfig:
    """The config a run recorded; settings deprecated since it was written are dropped without a warning.

    The warning is for a person editing a config file; nobody edits an old run's run.json.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return config_from_dict(config, where=where)


def load_run(folder: str | Path, *, with_customers: bool = True) -> LoadedRun:
    """A finished run: its manifest, config, proposals and (re-read, validated) customer table."""
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


def proposal_digest(proposal_id: str, kind: str, segments: Sequence[str], rule: str) -> str:
    """sha256 over what a decision acts on (id, kind, segments, rule): run.json keeps one per proposal."""
    text = json.dumps([str(proposal_id), str(kind), [str(s) for s in segments], str(rule)], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_digest(run: LoadedRun, proposal: dict) -> None:
    """Refuse a proposal whose id, kind, segments or rule differ from what the run recorded in run.json.

    A run written before digests were recorded has none to check against."""
    digests = run.manifest.rule_digests
    if not digests:
        return
    pid = str(proposal.get("id"))
    recorded = digests.get(pid)
    found = proposal_digest(pid, str(proposal.get("kind")), proposal.get("segments") or [], str(proposal.get("rule")))
    if recorded != found:
        what = "is not one the run wrote" if recorded is None else "differs from the one the run wrote"
        raise RefineError(
            f"proposals.json was edited after the run: proposal {pid} {what} (its rule, kind or segments); "
            "rerun refine to get proposals it found",
            where=str(run.folder / "proposals.json"),
        )


def find_proposal(run: LoadedRun, proposal_id: str) -> dict:
    for proposal in run.proposals:
        if proposal.get("id") == proposal_id:
            return proposal
    known = ", ".join(str(p.get("id")) for p in run.proposals) or "none"
    raise RefineError(f"no proposal {proposal_id!r} in this run (proposals: {known})", where=str(run.folder))
