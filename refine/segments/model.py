"""The proposal stage's result as typed records, and proposals.json produced from them in one place.

``ProposalResult.to_json()`` is the proposals.json document (``proposals``, ``stopped``, ``method``)
with the same keys and meanings as every earlier version; ``from_json()`` reads any of them (keys a
newer refine wrote are kept in ``extra`` and written back unchanged). ``run_cycle`` passes the typed
records along (``CycleResult.proposals``); only the run folder holds the JSON form, which decisions and
A/B planning read back. Reading a record like a dict still works until 0.4, with a warning
(refine.records.DictAccess).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from refine.records import DictAccess


def _known(cls, document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    return {k: v for k, v in document.items() if k in names}, {k: v for k, v in document.items() if k not in names}


@dataclass
class Evidence(DictAccess):
    """Why a proposal is made. Split / new: discovery and holdout comparisons; merge: equivalence tests.

    Comparison records are ``refine.stats.Comparison.to_dict()`` plus a readable ``label``.
    """

    holdout_q: float | None = None  # BH-adjusted holdout p of the confirming test (merge: its Holm-adjusted p)
    # split / new
    discovery: list[dict] | None = None  # significant discovery comparisons, largest effect first
    # the same measures on the holdout (merge: its equivalence tests, since 0.4 on all customers: `sample`)
    holdout: list[dict] | dict | None = None
    supporting_segments: list[str] | None = None  # new: segments where the difference holds
    rule_vs_feedback_subgroup: dict | None = None
    # merge
    reason: str | None = None  # a merge for size: why
    equivalence: list[dict] | None = None  # per measure: TOST (on discovery before 0.4; since, on all customers)
    feedback_difference: dict | None = None  # permutation test on topic mix and sentiment (before 0.3.1)
    status: str | None = None  # merge: confirmed | not confirmed | too small to stand alone (new key)
    not_compared: list[dict] | None = None  # merge: measures constant, all missing or too thin, with n (new key)
    why_not: str | None = None  # merge: why it is not confirmed (new key)
    in_new_segments: int | None = None  # customers of the rule tested (and assigned) in a NEW segment
    extra: dict[str, Any] = field(default_factory=dict)

    _ORDER = (
        "status",
        "reason",
        "why_not",
        "equivalence",
        "not_compared",
        "feedback_difference",
        "discovery",
        "holdout",
        "supporting_segments",
        "rule_vs_feedback_subgroup",
        "holdout_q",
        "in_new_segments",
    )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for name in self._ORDER:
            value = getattr(self, name)
            if value is not None or name == "holdout_q":
                document[name] = value
        document.update(self.extra)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Evidence:
        known, extra = _known(cls, document)
        return cls(**known, extra=extra)


@dataclass
class Proposal(DictAccess):
    """One ranked MERGE / SPLIT / NEW proposal: its rule, the customers it touches and its evidence."""

    id: str
    kind: str  # merge | split | new
    segments: list[str]
    rule: str
    customers: int
    respondents: int
    evidence: Evidence
    top_topics: list[dict] = field(default_factory=list)
    quotes: list[str] = field(default_factory=list)
    expected_impact: list[dict] = field(default_factory=list)
    score_gap: dict | None = None
    score: float = 0.0
    confirmed: bool = False
    rank: int = 0
    overlaps: list[dict] = field(default_factory=list)
    rule_note: str = ""  # how a date rule reads in days (new key; "" = nothing to add)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        document = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        document["evidence"] = self.evidence.to_json()
        if not self.rule_note:
            document.pop("rule_note")
        document.update(self.extra)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Proposal:
        known, extra = _known(cls, document)
        known["evidence"] = Evidence.from_json(known.get("evidence") or {})
        for name in ("id", "kind", "rule"):
            known.setdefault(name, "")
        known.setdefault("segments", [])
        known.setdefault("customers", 0)
        known.setdefault("respondents", 0)
        return cls(**known, extra=extra)


@dataclass
class StoppedCandidate(DictAccess):
    """A candidate a guardrail stopped, and which guardrail."""

    kind: str
    segments: list[str]
    rule: str
    stopped_by: str
    detail: str = ""
    measure: str | None = None
    effect: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        document = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        for name in ("measure", "effect"):
            if document[name] is None:
                document.pop(name)
        document.update(self.extra)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> StoppedCandidate:
        known, extra = _known(cls, document)
        for name in ("kind", "rule", "stopped_by"):
            known.setdefault(name, "")
        known.setdefault("segments", [])
        return cls(**known, extra=extra)


@dataclass
class ProposalMethod(DictAccess):
    """How proposals were searched and corrected (proposals.json ``method``, the report's method section)."""

    # every field may be absent from a proposals.json an older refine wrote: None = not recorded, not written
    discovery_customers: int | None = None
    holdout_customers: int | None = None
    discovery_respondents: int | None = None
    holdout_respondents: int | None = None
    conditions_tested: int | None = None  # single-attribute conditions the NEW search tested
    comparisons: int | None = None  # condition x measure comparisons in all discovery families
    correction: str | None = None  # what the Benjamini-Hochberg correction covers, as it runs
    alpha: float | None = None
    min_effect: float | None = None
    equivalence_margin: float | None = None
    min_segment_size: int | None = None
    max_segments: int | None = None
    seed: int | None = None
    families: dict[str, dict] | None = None  # new / split / merge: conditions and comparisons (new key)
    attributes: list[dict] | None = None  # column, kind, levels, conditions (new key)
    skipped_columns: list[dict] | None = None  # column, reason (new key)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        document = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "extra" and getattr(self, f.name) is not None
        }
        document.update(self.extra)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ProposalMethod:
        known, extra = _known(cls, document)
        return cls(**known, extra=extra)


@dataclass
class ProposalResult(DictAccess):
    """The proposal stage's result: ranked proposals, stopped candidates and the method."""

    proposals: list[Proposal]
    stopped: list[StoppedCandidate]
    method: ProposalMethod

    def to_json(self) -> dict[str, Any]:
        """The proposals.json document."""
        return {
            "proposals": [p.to_json() for p in self.proposals],
            "stopped": [s.to_json() for s in self.stopped],
            "method": self.method.to_json(),
        }

    @classmethod
    def from_json(cls, document: dict[str, Any] | list) -> ProposalResult:
        """A result from a proposals.json document of any version (the oldest were a bare list)."""
        if isinstance(document, list):
            document = {"proposals": document}
        return cls(
            proposals=[Proposal.from_json(p) for p in document.get("proposals", [])],
            stopped=[StoppedCandidate.from_json(s) for s in document.get("stopped", [])],
            method=ProposalMethod.from_json(document.get("method", {})),
        )
