"""What a cycle returns: the cycle result, as a typed record (run.json is refine.io.runs.RunManifest).

``CycleResult`` holds everything a cycle produced in memory; the run folder holds the same on disk
(refine.run.folders writes it). ``RunManifest`` (run.json) lives with the run-folder reader in refine.io.runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from refine.insights.stage import CycleInsights
from refine.io.runs import RunManifest
from refine.segments.model import Proposal, ProposalMethod, ProposalResult, StoppedCandidate
from refine.text.sentiment.stage import SentimentResult
from refine.text.themes.model import ParentTheme, Theme


@dataclass
class CycleResult:
    """Everything one cycle produced, in memory; the run folder holds the same on disk.

    Attributes:
        out_dir: the run folder.
        feedback: accepted feedback rows with sentiment, topic and segment (and `topic_sentiment`, the
            sentiment of each comment's sentences in its topic, which feedback.parquet does not keep).
        customers: the accepted customer table (segments as reported against).
        rejects: every input row not used, with its reason.
        topics: the child themes (refine.text.themes.model.Theme), live ones largest first, fading ones last.
        segments: one profile row per segment.
        proposals: ranked proposals (refine.segments.model.Proposal).
        stopped: candidates a guardrail stopped, with the guardrail (StoppedCandidate).
        method: how proposals were searched and corrected (ProposalMethod).
        assignments: customer id, current and proposed segment.
        manifest: what run.json holds.
        embeddings: the comments' embeddings, row i for feedback row i (pass them back to
            ``run_cycle(..., embeddings=...)`` to skip embedding on a rerun).
        sentences: the comments' sentences with their topic and sentiment.
        sentiment: the SentimentResult (refine.text.sentiment.stage): per comment language and
            confidence, per sentence scores, language mix.
        parents: the parent themes (ParentTheme: id, label, children, ...).
        insights: drivers, value, score-change attribution and what is new (CycleInsights).

    Every record is typed; ``to_json()`` (``to_record()`` for themes) gives the form the run folder
    holds. Reading a record like a dict (``result.proposals[0]["rule"]``, as in 0.2) still works until
    0.4, with a RecordDictAccessWarning.
    """

    out_dir: Path
    feedback: pd.DataFrame
    customers: pd.DataFrame
    rejects: pd.DataFrame
    topics: list[Theme]
    segments: pd.DataFrame
    proposals: list[Proposal]
    stopped: list[StoppedCandidate]
    method: ProposalMethod
    assignments: pd.DataFrame
    manifest: RunManifest
    comparison: dict | None = None
    timings: dict[str, float] = field(default_factory=dict)
    llm_summary: str | None = None  # the optional machine-written summary paragraph
    embeddings: np.ndarray | None = None
    sentences: pd.DataFrame | None = None
    sentiment: SentimentResult | None = None
    insights: CycleInsights | None = None
    parents: list[ParentTheme] = field(default_factory=list)

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.html"

    def proposal_result(self) -> ProposalResult:
        """The proposals, stopped candidates and method together (``.to_json()`` is proposals.json)."""
        return ProposalResult(proposals=self.proposals, stopped=self.stopped, method=self.method)
