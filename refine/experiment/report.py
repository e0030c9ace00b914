"""The typed result of ``analyze_experiment``: one dataclass with named fields, read like the JSON it writes.

``ABReport.to_json()`` is the one place the ab_report.json document is produced; ``ABReport.from_json()`` reads a
report written by this or the previous version (version 1 had no interval, accrual, daily, novelty or
heterogeneity keys: they default to empty). The old keys keep their meaning. A report also reads like a
mapping (``report["results"]``), so code written against the dict it used to be keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NotRequired, TypedDict

from refine.experiment._common import _finite


class ArmDecision(TypedDict):
    """The decision for one treatment arm against control."""

    decision: str  # ship | stop | keep testing
    headline: str
    reasons: list[str]
    bayesian: str | None  # the Bayesian read-out of the primary metric, in words


class Decision(TypedDict):
    """The report's decision: with one treatment arm its ArmDecision, with several a summary over the arms."""

    decision: str
    headline: str
    reasons: list[str]
    bayesian: NotRequired[str | None]  # one treatment arm only
    per_arm: NotRequired[dict[str, ArmDecision]]


@dataclass(eq=False)
class ABReport(Mapping):
    settings: dict
    decision: Decision
    warnings: list
    data_quality: dict
    srm: dict
    metrics: dict
    results: list
    guardrails: list
    correction: dict
    method: list
    kind: str = "refine A/B analysis"
    version: int = 2
    interval: dict | None = None  # which interval judges significance and the statement the report shows
    accrual: dict | None = None  # units per arm and per day (for days-to-go)
    daily: list = field(default_factory=list)  # DailySeries.to_json() per metric x arm
    novelty: list = field(default_factory=list)  # NoveltyCheck.to_json() per primary/secondary metric x arm
    heterogeneity: list = field(default_factory=list)  # HeterogeneityTest.to_json() per column x metric x arm
    # the input rows left out for a stray arm label, with a reason column: ab_rejects.csv (not in the JSON document)
    rejects: Any = field(default=None, compare=False, repr=False)

    _ORDER = (
        "kind",
        "version",
        "settings",
        "decision",
        "warnings",
        "data_quality",
        "srm",
        "metrics",
        "results",
        "guardrails",
        "correction",
        "interval",
        "accrual",
        "daily",
        "novelty",
        "heterogeneity",
        "method",
    )

    def to_json(self) -> dict[str, Any]:
        """The ab_report.json document (JSON-safe: no NaN, numpy scalars as Python numbers)."""
        return _finite({name: getattr(self, name) for name in self._ORDER})

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ABReport:
        if isinstance(doc, ABReport):
            return doc
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})

    def __getitem__(self, key: str) -> Any:
        if key not in self._ORDER:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ORDER)

    def __len__(self) -> int:
        return len(self._ORDER)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self.to_json() == (other.to_json() if isinstance(other, ABReport) else dict(other))
        return NotImplemented
