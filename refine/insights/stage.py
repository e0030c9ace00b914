"""The cycle's insights stage: drivers, value, score-change attribution and what is new, as one typed record.

Computed after the proposals (it reads the themes, segments and proposals) and written to
``insights.json`` in the run folder; the report draws the driver chart, the waterfall and the
value columns from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from refine import schemas as S
from refine.insights import drivers as drivers_module
from refine.insights.drivers import (
    Attribution,
    DriverResult,
    WhatIsNew,
    attribute_change,
    nearest_theme,
    theme_drivers,
    what_is_new,
)
from refine.io.runs import clean_json, read_json
from refine.memo import Digest, code_digest
from refine.segments import value as value_module
from refine.segments.model import Proposal
from refine.segments.value import ValueResult, value_at_risk
from refine.text.themes.model import Theme

if TYPE_CHECKING:
    from refine.io.config import RefineConfig
    from refine.text.embed import Embedder

PREVIOUS_CYCLES = 3  # emerging / fading compare with the pooled last (up to) three cycles


@dataclass
class CycleInsights:
    drivers: DriverResult
    value: ValueResult | None = None
    attribution: Attribution | None = None
    what_is_new: WhatIsNew | None = None
    notes: list[str] | None = None  # why a part was left out

    def to_json(self) -> dict[str, Any]:
        return clean_json(
            {
                "drivers": self.drivers.to_json(),
                "value": self.value.to_json() if self.value else None,
                "attribution": self.attribution.to_json() if self.attribution else None,
                "what_is_new": self.what_is_new.to_json() if self.what_is_new else None,
                "notes": list(self.notes or []),
            }
        )

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> CycleInsights:
        return cls(
            DriverResult.from_json(doc.get("drivers") or {}),
            ValueResult.from_json(doc["value"]) if doc.get("value") else None,
            Attribution.from_json(doc["attribution"]) if doc.get("attribution") else None,
            WhatIsNew.from_json(doc["what_is_new"]) if doc.get("what_is_new") else None,
            list(doc.get("notes") or []),
        )


def read_insights(run_dir: Path) -> CycleInsights | None:
    """A run's insights.json, or None for a run written before it existed."""
    path = Path(run_dir) / "insights.json"
    if not path.exists():
        return None
    return CycleInsights.from_json(read_json(path, "insights file"))


def previous_runs(previous: Path, limit: int = PREVIOUS_CYCLES) -> list[Path]:
    """The --previous run and the runs it was itself compared with, newest first, up to ``limit``."""
    chain: list[Path] = []
    folder: Path | None = Path(previous)
    while folder is not None and len(chain) < limit and (folder / "run.json").exists():
        if any(folder.resolve() == seen.resolve() for seen in chain):
            break
        chain.append(folder)
        try:
            earlier = json.loads((folder / "run.json").read_text(encoding="utf-8")).get("previous")
        except (OSError, ValueError):
            earlier = None
        folder = Path(earlier) if earlier else None
    return chain


def _run_meta(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@dataclass
class _Embedded:
    """The earlier cycles' comments (one list per run, newest first) and both cycles' embeddings."""

    texts_by_run: list[list[str]]
    before: np.ndarray  # the earlier cycles' comments, pooled
    now: np.ndarray


def _embed_earlier(
    chain: list[Path], embedder: Embedder | None, embeddings: np.ndarray | None, notes: list[str]
) -> _Embedded | None:
    """Earlier cycles' comments embedded again with this cycle's embedder (cache hits in a monthly job)."""
    if embedder is None or embeddings is None:
        return None
    texts_by_run: list[list[str]] = []
    for folder in chain:
        try:
            texts_by_run.append(
                pd.read_parquet(folder / "feedback.parquet", columns=[S.TEXT])[S.TEXT].astype(str).tolist()
            )
        except Exception:
            notes.append(f"{folder}: feedback.parquet unreadable, left out of the earlier cycles")
            texts_by_run.append([])
    texts = [t for run_texts in texts_by_run for t in run_texts]
    if not texts:
        return None
    before = np.asarray(embedder.encode(texts), dtype=np.float32)
    return _Embedded(texts_by_run, before, np.asarray(embeddings, dtype=np.float32))


def _value(
    customers: pd.DataFrame,
    feedback: pd.DataFrame,
    config: RefineConfig,
    labels: dict[int, str],
    proposals: list[Proposal],
) -> ValueResult | None:
    """Value at risk by theme, segment and proposal; None without a ``[customers] value`` column."""
    cc = config.customers
    if not cc.value:
        return None
    return value_at_risk(
        customers,
        feedback,
        customer_id=cc.customer_id,
        segment=cc.segment,
        value_column=cc.value,
        outcomes=cc.outcomes,
        score_kind=config.feedback.score_kind,
        topic_labels=labels,
        proposals=proposals,
    )


def _attribution(
    before: pd.DataFrame,
    feedback: pd.DataFrame,
    kind: str,
    labels: dict[int, str],
    embedded: _Embedded | None,
    now_centroids: dict[int, np.ndarray],
    threshold: float,
) -> Attribution | None:
    """The score change between the cycles by theme, on one theme definition when the comments are embedded."""
    if embedded is not None and now_centroids and len(embedded.texts_by_run[0]) == len(before):
        # one theme definition for both cycles: every comment of both gets its nearest theme of this
        # cycle, so a theme the topic step refitted under another id is not read as gone and new
        before_now = before.assign(
            **{S.TOPIC_ID: nearest_theme(embedded.before[: len(before)], now_centroids, threshold)}
        )
        now_frame = feedback.assign(**{S.TOPIC_ID: nearest_theme(embedded.now, now_centroids, threshold)})
        attribution = attribute_change(before_now, now_frame, kind, labels)
        themes_rule = f"this cycle's themes, each comment of both cycles to its nearest (cosine >= {threshold})"
    else:
        attribution = attribute_change(before, feedback, kind, labels)
        themes_rule = "topic ids as stored by each cycle"
    if attribution is not None:
        attribution.themes = themes_rule
    return attribution


def compute_insights(
    feedback: pd.DataFrame,
    customers: pd.DataFrame,
    config: RefineConfig,
    topics: list[Theme],
    proposals: list[Proposal],
    *,
    previous: Path | None = None,
    embedder: Embedder | None = None,
    embeddings: np.ndarray | None = None,
) -> CycleInsights:
    """Drivers, value (with ``[customers] value``) and, with a previous run, attribution and what is new.

    Args:
        feedback: joined feedback rows (segment, score, sentiment, topic).
        customers: the customer table the cycle reported against.
        config: the run's RefineConfig.
        topics: this cycle's themes (with centroids).
        proposals: ranked proposals.
        previous: last cycle's run folder (its run.json chain gives the earlier ones).
        embedder: the cycle's embedder, to embed earlier cycles' comments (cache hits in a monthly job).
        embeddings: this cycle's comment embeddings, row i for feedback row i.
    """
    cc = config.customers
    kind = config.feedback.score_kind
    labels = {int(t.id): t.label for t in topics if t.status != "fading"}
    notes: list[str] = []
    drivers = theme_drivers(
        feedback, customers, customer_id=cc.customer_id, outcomes=cc.outcomes, score_kind=kind, topic_labels=labels
    )
    insights = CycleInsights(drivers, _value(customers, feedback, config, labels, proposals), notes=notes)
    if previous is None:
        return insights
    chain = previous_runs(previous)
    last = chain[0]
    meta = _run_meta(last)
    try:
        before = pd.read_parquet(last / "feedback.parquet", columns=[S.TEXT, S.SCORE, S.TOPIC_ID])
    except Exception as exc:  # a damaged previous folder costs the comparison, not the run
        notes.append(f"last cycle's feedback.parquet could not be read ({type(exc).__name__})")
        return insights
    previous_topics = _topics_of(last)
    all_labels = {**{int(t["id"]): t.get("label", "") for t in previous_topics}, **labels}
    previous_kind = (meta.get("config") or {}).get("feedback", {}).get("score_kind")
    now_centroids = {int(t.id): np.asarray(t.centroid, dtype=float) for t in topics if t.status != "fading"}
    threshold = config.topics.outlier_similarity
    embedded = _embed_earlier(chain, embedder, embeddings, notes)
    if kind and previous_kind == kind:
        insights.attribution = _attribution(before, feedback, kind, all_labels, embedded, now_centroids, threshold)
        if insights.attribution is None:
            notes.append("score change not attributed: a cycle has no scored comment")
    elif kind:
        notes.append(f"score change not attributed: last cycle's score was {previous_kind or 'absent'}, now {kind}")
    if embedded is None:
        notes.append("what is new needs the comments' embeddings")
        return insights
    same_model = (meta.get("models") or {}).get("embedding") == getattr(embedder, "model_id", None)
    previous_centroids = (
        {int(t["id"]): np.asarray(t["centroid"]) for t in previous_topics if t.get("centroid")} if same_model else {}
    )
    if not same_model:
        notes.append("fading themes not tested: last cycle used another embedding model")
    if len(embedded.before) and now_centroids:
        insights.what_is_new = what_is_new(
            embedded.before,
            embedded.now,
            now_centroids,
            previous_centroids,
            all_labels,
            cycles_before=len(chain),
            min_similarity=threshold,
        )
    return insights


def insights_key(
    feedback: pd.DataFrame,
    customers: pd.DataFrame,
    config: RefineConfig,
    topics: list[Theme],
    proposals: list[Proposal],
    *,
    versions: dict[str, str],
    previous: Path | None = None,
    embedder_id: str | None = None,
    embeddings: np.ndarray | None = None,
) -> str:
    """Digest of everything `compute_insights` reads, for the stage cache (refine.memo): the joined feedback,
    the customer table, the whole config, the themes and proposals as the run folder holds them, this
    cycle's embeddings and model, and the files of the earlier runs it compares with (their bytes), with
    the library versions and the source of the modules that compute it."""
    digest = Digest(
        "insights",
        versions,
        code_digest(sys.modules[__name__], drivers_module, value_module),
        feedback,
        customers,
        config.to_dict(),
        [dataclasses.asdict(t) for t in topics],
        [p.to_json() for p in proposals],
        embedder_id,
        np.asarray(embeddings) if embeddings is not None else None,
    )
    for folder in previous_runs(previous) if previous is not None else []:
        for name in ("run.json", "topics.json", "feedback.parquet"):
            path = folder / name
            digest.add(name, _file_sha256(path) if path.exists() else None)
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _topics_of(folder: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads((folder / "topics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [t for t in doc.get("topics", []) if isinstance(t, dict) and "id" in t]
