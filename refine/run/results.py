"""What a cycle returns: the cycle result, as a typed record (run.json is refine.io.runs.RunManifest).

``CycleResult`` holds everything a cycle produced in memory; the run folder holds the same on disk
(refine.run.folders writes it). ``RunManifest`` (run.json) lives with the run-folder reader in refine.io.runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from refine.io.runs import RunManifest


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
        sentiment: the SentimentResult (refine.text.sentiment.stage): per comment language and
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
    insights: Any = None  # refine.insights.stage.CycleInsights: drivers, value, score change, what is new
    parents: list[dict] = field(default_factory=list)  # parent themes as in topics.json's "parents"

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.html"
