"""The themes stage's result types, and topics.json produced from them in one place (`to_json` / `from_json`).

topics.json keeps every key and meaning it had before themes: `topics` (the live child themes: id,
label, keywords, size = comments whose primary theme it is, share, mean_sentiment = mean sentence
sentiment, quotes, status, centroid, sentences, comment_sentiment), `fading` and `method`. Added:
per theme `parent_id`, `mentions` (comments with at least one sentence in it), `candidate` (found
in the texts, not in the user's codeframe), `source` and, where its sentences mention products, places
or names, `facets` (the most mentioned, each {"facet", "sentences"}); and a `parents` list (id, label,
keywords, size, share, mean_sentiment, quotes, status, centroid, children). A run written before
themes has no parents: `from_json` reads it as themes without parents.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refine.records import DictAccess

NO_THEME = -1


def _rounded(vector) -> list[float]:
    return [round(float(x), 5) for x in np.asarray(vector).ravel()]


def _sentiment(value) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 5)


def _share(theme: Theme | ParentTheme, n_comments: int | None) -> float:
    """A theme's share of the cycle's comments: from `n_comments` when given, else as already set."""
    if n_comments is not None:
        return round(theme.size / max(n_comments, 1), 5)
    return float(theme.share or 0.0)


def _shared_fields(record: dict) -> dict[str, Any]:
    """The fields a theme and a parent theme read alike from topics.json."""
    return {
        "id": int(record["id"]),
        "label": str(record.get("label", "")),
        "keywords": list(record.get("keywords", [])),
        "size": int(record.get("size", 0) or 0),
        "centroid": np.asarray(record.get("centroid") or [], dtype=np.float32),
        "quotes": list(record.get("quotes", [])),
        "status": str(record.get("status", "new")),
    }


@dataclass
class Theme(DictAccess):
    """A child theme: what customers say happened, named in their words."""

    id: int
    label: str
    keywords: list[str]
    size: int  # comments whose primary theme this is (the topic_id column)
    centroid: np.ndarray  # unit vector in the embedding space
    quotes: list[str]
    status: str  # new | stable | emerging | fading
    parent_id: int | None = None
    mentions: int = 0  # comments with at least one sentence in this theme
    sentences: int = 0
    mean_sentiment: float | None = None  # mean sentence sentiment
    comment_sentiment: float | None = None  # mean sentiment of the comments whose primary theme it is
    candidate: bool = False  # discovered while a codeframe is in use: a candidate for it
    source: str = "discovered"  # discovered | codeframe
    share: float | None = None  # size / comments of the cycle (set by ThemeResult.topics; 0 when fading)
    keyword_label: str | None = None  # with LLM labels: the label from the texts, kept beside the model's
    label_source: str | None = None  # with LLM labels: "llm" or "keywords"
    facets: list[dict[str, Any]] = field(default_factory=list)  # {"facet", "sentences"}: entities mentioned

    def to_record(self, n_comments: int | None = None) -> dict[str, Any]:
        """The topics.json record; `n_comments` gives the share (else the `share` already set)."""
        record = {
            "id": int(self.id),
            "label": self.label,
            "keywords": list(self.keywords),
            "size": int(self.size),
            "share": _share(self, n_comments) if self.status != "fading" else 0.0,
            "mean_sentiment": _sentiment(self.mean_sentiment),
            "quotes": list(self.quotes),
            "status": self.status,
            "centroid": _rounded(self.centroid),
            "sentences": int(self.sentences),
            "comment_sentiment": _sentiment(self.comment_sentiment),
            "parent_id": None if self.parent_id is None else int(self.parent_id),
            "mentions": int(self.mentions),
            "candidate": bool(self.candidate),
            "source": self.source,
        }
        if self.keyword_label is not None:
            record["keyword_label"] = self.keyword_label
        if self.label_source is not None:
            record["label_source"] = self.label_source
        if self.facets:
            record["facets"] = [dict(f) for f in self.facets]
        return record

    def _json_form(self) -> dict[str, Any]:
        return self.to_record()

    @classmethod
    def from_record(cls, record: dict) -> Theme:
        return cls(
            **_shared_fields(record),
            parent_id=record.get("parent_id"),
            mentions=int(record.get("mentions", 0) or 0),
            sentences=int(record.get("sentences", 0) or 0),
            mean_sentiment=record.get("mean_sentiment"),
            comment_sentiment=record.get("comment_sentiment"),
            candidate=bool(record.get("candidate", False)),
            source=str(record.get("source", "discovered")),
            share=record.get("share"),
            keyword_label=record.get("keyword_label"),
            label_source=record.get("label_source"),
            facets=[dict(f) for f in record.get("facets", []) or []],
        )


@dataclass
class ParentTheme(DictAccess):
    """A parent theme grouping related child themes (App > crashing, login, password)."""

    id: int
    label: str
    keywords: list[str]
    size: int  # comments whose primary theme is one of its children
    centroid: np.ndarray
    quotes: list[str]
    status: str
    children: list[int]
    mentions: int = 0
    mean_sentiment: float | None = None
    share: float | None = None  # size / comments of the cycle (set by ThemeResult.topics)

    def to_record(self, n_comments: int | None = None) -> dict[str, Any]:
        """The topics.json record; `n_comments` gives the share (else the `share` already set)."""
        return {
            "id": int(self.id),
            "label": self.label,
            "keywords": list(self.keywords),
            "size": int(self.size),
            "share": _share(self, n_comments),
            "mean_sentiment": _sentiment(self.mean_sentiment),
            "quotes": list(self.quotes),
            "status": self.status,
            "centroid": _rounded(self.centroid),
            "children": [int(c) for c in self.children],
            "mentions": int(self.mentions),
        }

    def _json_form(self) -> dict[str, Any]:
        return self.to_record()

    @classmethod
    def from_record(cls, record: dict) -> ParentTheme:
        return cls(
            **_shared_fields(record),
            children=[int(c) for c in record.get("children", [])],
            mentions=int(record.get("mentions", 0) or 0),
            mean_sentiment=record.get("mean_sentiment"),
            share=record.get("share"),
        )


@dataclass
class PreviousThemes:
    """Last cycle's themes as read back from its topics.json (a run from before themes has no parents)."""

    themes: list[Theme]  # live and fading child themes
    parents: list[ParentTheme] = field(default_factory=list)

    @property
    def max_id(self) -> int:
        return max((t.id for t in self.themes), default=-1)

    @property
    def max_parent_id(self) -> int:
        return max((p.id for p in self.parents), default=-1)


@dataclass
class ThemeResult:
    """Everything the themes stage found, per sentence, per comment and per theme."""

    themes: list[Theme]  # live child themes, largest first
    parents: list[ParentTheme]
    fading: list[Theme]
    sentence_theme: np.ndarray  # theme id per sentence row (-1 = none)
    sentence_similarity: np.ndarray  # cosine to that theme's centroid
    comment_themes: list[list[int]]  # per comment: its themes (its sentences' themes), primary first
    primary: np.ndarray  # per comment: the primary theme id (-1 = none)
    method: dict[str, Any] = field(default_factory=dict)

    @property
    def n_comments(self) -> int:
        return int(len(self.primary))

    def labels(self) -> dict[int, str]:
        return {t.id: t.label for t in self.themes}

    def parent_columns(self, theme_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(parent id, parent label) of each child theme id in `theme_ids` (-1 and "no topic" for none)."""
        label = {p.id: p.label for p in self.parents}
        parent = {t.id: -1 if t.parent_id is None else int(t.parent_id) for t in self.themes}
        ids = np.array([parent.get(int(t), -1) for t in theme_ids], dtype=np.int64)
        return ids, np.array([label.get(int(i), "no topic") for i in ids], dtype=object)

    def records(self) -> list[dict]:
        """The live themes (largest first), then the fading ones: what topics.json lists as topics + fading."""
        return [t.to_record(self.n_comments) for t in self.themes + self.fading]

    def topics(self) -> list[Theme]:
        """The live themes (largest first), then the fading ones, as topics.json holds them (`records`), typed.

        Copies with their share set, and the values rounded as topics.json rounds them (sentiment and
        centroids to 5 decimals; a sentiment that is not a number is None), so that what the later
        stages read is what a run folder gives back.
        """
        return [
            dataclasses.replace(
                t,
                share=_share(t, self.n_comments) if t.status != "fading" else 0.0,
                centroid=np.asarray(_rounded(t.centroid)),
                mean_sentiment=_sentiment(t.mean_sentiment),
                comment_sentiment=_sentiment(t.comment_sentiment),
            )
            for t in self.themes + self.fading
        ]

    def parent_topics(self) -> list[ParentTheme]:
        """The parent themes, typed and rounded as topics.json holds them (see `topics`)."""
        return [
            dataclasses.replace(
                p,
                share=_share(p, self.n_comments),
                centroid=np.asarray(_rounded(p.centroid)),
                mean_sentiment=_sentiment(p.mean_sentiment),
            )
            for p in self.parents
        ]

    def to_json(self) -> dict[str, Any]:
        """The topics.json document (see the module docstring for the keys)."""
        return {
            "topics": [t.to_record(self.n_comments) for t in self.themes],
            "fading": [t.to_record(self.n_comments) for t in self.fading],
            "parents": [p.to_record(self.n_comments) for p in self.parents],
            "method": self.method,
        }

    @staticmethod
    def previous_from_json(document: dict) -> PreviousThemes:
        """Last cycle's topics.json (this version's or the one before themes) as PreviousThemes."""
        themes = [Theme.from_record(r) for r in list(document.get("topics", [])) + list(document.get("fading", []))]
        parents = [ParentTheme.from_record(r) for r in document.get("parents", []) or []]
        return PreviousThemes(themes=themes, parents=parents)

    # the stage cache (refine.memo) stores the result as JSON plus arrays
    def to_payload(self) -> tuple[dict, dict[str, np.ndarray]]:
        document = self.to_json()
        document["n_comments"] = self.n_comments
        document["comment_themes"] = self.comment_themes
        arrays = {
            "sentence_theme": np.asarray(self.sentence_theme),
            "sentence_similarity": np.asarray(self.sentence_similarity),
            "primary": np.asarray(self.primary),
        }
        return document, arrays

    @classmethod
    def from_payload(cls, document: dict, arrays: dict[str, np.ndarray]) -> ThemeResult:
        def theme(record: dict) -> Theme:
            t = Theme.from_record(record)
            return t

        return cls(
            themes=[theme(r) for r in document["topics"]],
            parents=[ParentTheme.from_record(r) for r in document["parents"]],
            fading=[theme(r) for r in document["fading"]],
            sentence_theme=arrays["sentence_theme"],
            sentence_similarity=arrays["sentence_similarity"],
            comment_themes=[list(map(int, c)) for c in document["comment_themes"]],
            primary=arrays["primary"],
            method=document["method"],
        )
