"""What a cycle returns: the run manifest and the cycle result, as typed records.

``RunManifest`` is run.json: ``to_json`` writes it and ``from_json`` reads any run.json written
since refine 0.1.0 (keys a run lacks get their empty value). ``CycleResult`` holds everything a
cycle produced in memory; the run folder holds the same on disk.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


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
    timings: dict[str, float] = field(default_factory=dict)
    finished: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys written by a newer refine, kept as read

    def to_json(self) -> dict[str, Any]:
        """The run.json document (the same keys as every earlier version, plus newer ones)."""
        from refine.files import clean_json

        document = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        if self.finished is None:
            document.pop("finished")
        for key in ("sentiment", "theme_space"):  # added with languages: absent from runs written before
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
class CycleResult:
    """Everything one cycle produced, in memory; the run folder holds the same on disk.

    Attributes:
        out_dir: the run folder.
        feedback: accepted feedback rows with sentiment, topic and segment (and `topic_sentiment`, the
            sentiment of each comment's sentences in its topic, which feedback.parquet does not keep).
        customers: the accepted customer table (segments as reported against).
        rejects: every input row not used, with its reason.
        topics: topic records as in topics.json (fading ones last).
        segments: one profile row per segment.
        proposals: ranked proposals as in proposals.json.
        stopped: candidates a guardrail stopped, with the guardrail.
        method: how proposals were searched and corrected.
        assignments: customer id, current and proposed segment.
        manifest: what run.json holds.
        embeddings: the comments' embeddings, row i for feedback row i (pass them back to
            ``run_cycle(..., embeddings=...)`` to skip embedding on a rerun).
        sentences: the comments' sentences with their topic and sentiment.
        sentiment: the SentimentResult (refine.feedback_sentiment): per comment language and
            confidence, per sentence scores, language mix.
        parents: parent theme records (id, label, children, ...) as in topics.json.
    """

    out_dir: Path
    feedback: pd.DataFrame
    customers: pd.DataFrame
    rejects: pd.DataFrame
    topics: list[dict]
    segments: pd.DataFrame
    proposals: list[dict]
    stopped: list[dict]
    method: dict
    assignments: pd.DataFrame
    manifest: RunManifest
    comparison: dict | None = None
    timings: dict[str, float] = field(default_factory=dict)
    llm_summary: str | None = None  # the optional machine-written summary paragraph
    embeddings: np.ndarray | None = None
    sentences: pd.DataFrame | None = None
    sentiment: Any = None
    insights: Any = None  # refine.insights.CycleInsights: drivers, value, score change, what is new
    parents: list[dict] = field(default_factory=list)  # parent themes as in topics.json's "parents"

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.html"
