"""What themes, segments and proposals are worth: customers, value touched, value at risk.

With ``[customers] value`` naming a numeric column (revenue, ARR, LTV), every theme, segment and
proposal reports:

* ``customers`` - customers it touches (a theme: the respondents who mentioned it; a segment: its
  members; a proposal: the customers its rule selects),
* ``value`` - the sum of their value column (value touched),
* ``value_at_risk`` - the value of those of them who are *unhappy or churning*: a respondent whose
  comments are mostly negative (half or more labelled negative) or whose score is a detractor's
  (NPS 0-6, CSAT / stars 1-2, CES 5-7), or a customer flagged 1 in a 0/1 outcome whose name
  says churn (``churn``, ``churned_90d``, ``Churn flag``...),

and is ranked both by count (customers) and by value at risk (the value-weighted ranking).
A blank value counts as 0 and is counted in ``missing_values``. Without ``[customers] value``
nothing is computed and the report reads as before.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from refine import schemas as S
from refine.errors import RefineError
from refine.segments.model import Proposal
from refine.segments.rules import apply_rule

_CHURN = re.compile(r"churn", re.IGNORECASE)


@dataclass
class ValueLine:
    """One theme, segment or proposal: who it touches and what they are worth."""

    kind: str  # theme | segment | proposal
    key: str  # theme id, segment name or proposal id (as text)
    label: str
    customers: int
    respondents: int
    value: float
    value_at_risk: float
    at_risk_customers: int
    rank_by_count: int = 0
    rank_by_value: int = 0

    @property
    def at_risk_share(self) -> float:
        return self.value_at_risk / self.value if self.value else float("nan")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ValueLine:
        return cls(**doc)


@dataclass
class ValueResult:
    column: str
    total_value: float
    total_at_risk: float
    missing_values: int
    unhappy_rule: str
    churn_outcomes: list[str]
    themes: list[ValueLine] = field(default_factory=list)
    segments: list[ValueLine] = field(default_factory=list)
    proposals: list[ValueLine] = field(default_factory=list)

    def by_value(self, kind: str) -> list[ValueLine]:
        return sorted(getattr(self, kind), key=lambda line: line.rank_by_value)

    def line(self, kind: str, key: object) -> ValueLine | None:
        """The line of a theme id, segment name or proposal id (compared as text)."""
        return next((line for line in getattr(self, kind) if line.key == str(key)), None)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("themes", "segments", "proposals")}
        for kind in ("themes", "segments", "proposals"):
            out[kind] = [line.to_json() for line in getattr(self, kind)]
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ValueResult:
        return cls(
            column=doc["column"],
            total_value=doc["total_value"],
            total_at_risk=doc["total_at_risk"],
            missing_values=doc["missing_values"],
            unhappy_rule=doc["unhappy_rule"],
            churn_outcomes=list(doc["churn_outcomes"]),
            themes=[ValueLine.from_json(d) for d in doc.get("themes", [])],
            segments=[ValueLine.from_json(d) for d in doc.get("segments", [])],
            proposals=[ValueLine.from_json(d) for d in doc.get("proposals", [])],
        )


def detractor(scores: pd.Series, kind: str | None) -> pd.Series:
    """True where the score is a detractor's / an unhappy rating on its scale."""
    values = pd.to_numeric(scores, errors="coerce")
    if kind == "nps":
        return values <= 6
    if kind == "ces":
        return values >= 5
    if kind in ("csat", "stars"):
        return values <= 2
    return pd.Series(False, index=scores.index)


def churn_outcomes(customers: pd.DataFrame, outcomes: list[str]) -> list[str]:
    """0/1 outcome columns whose name says churn: a customer flagged 1 there is churning."""
    out = []
    for column in outcomes:
        if not _CHURN.search(column) or column not in customers.columns:
            continue
        values = pd.to_numeric(customers[column], errors="coerce").dropna().to_numpy(dtype=float)
        if len(values) and np.isin(values, (0.0, 1.0)).all():
            out.append(column)
    return out


def customer_values(customers: pd.DataFrame, column: str) -> tuple[pd.Series, int]:
    """The value column as numbers (blank = 0), and how many were blank; a text column is a one-line error."""
    if column not in customers.columns:
        raise RefineError(f"[customers] value names {column!r}, which is not in the customer table")
    raw = customers[column]
    if pd.api.types.is_bool_dtype(raw):
        raise RefineError(f"[customers] value column {column!r} holds true/false, not an amount")
    values = pd.to_numeric(raw, errors="coerce")
    text = raw.astype(str).str.strip()
    unreadable = values.isna() & (text != "") & (text.str.lower() != "nan") & raw.notna()
    if unreadable.any():
        example = str(raw[unreadable].iloc[0])[:30]
        raise RefineError(f"[customers] value column {column!r} must be numeric (found {example!r})")
    if not np.isfinite(values.dropna().to_numpy(dtype=float)).all():
        raise RefineError(f"[customers] value column {column!r} holds an infinite value")
    return values.fillna(0.0).astype(float), int(values.isna().sum())


def value_at_risk(
    customers: pd.DataFrame,
    feedback: pd.DataFrame,
    *,
    customer_id: str,
    segment: str,
    value_column: str,
    outcomes: list[str],
    score_kind: str | None,
    topic_labels: dict[int, str],
    proposals: list[Proposal] | list[dict[str, Any]],
) -> ValueResult:
    """Customers, value touched and value at risk per theme, segment and proposal, ranked two ways.

    Args:
        customers: the accepted customer table (segment, value, outcomes, attributes).
        feedback: joined feedback rows (customer_id, sentiment_label, score, topic_id).
        customer_id, segment, value_column: the customer table's columns.
        outcomes: outcome columns; the 0/1 ones named like churn mark churning customers.
        score_kind: how the score is read, for detractors.
        topic_labels: theme id -> label.
        proposals: ranked proposals (typed, or as proposals.json holds them).

    Returns:
        ValueResult with one ValueLine per theme, segment and proposal.
    """
    values, missing = customer_values(customers, value_column)
    ids = customers[customer_id].astype(str)
    churners = churn_outcomes(customers, outcomes)
    churning = pd.Series(False, index=customers.index)
    for column in churners:
        churning |= pd.to_numeric(customers[column], errors="coerce").fillna(0.0) == 1.0

    said = feedback.assign(
        _neg=(feedback[S.SENTIMENT_LABEL] == "negative").astype(float),
        _det=detractor(feedback[S.SCORE], score_kind).astype(float),
    )
    per_person = said.groupby(S.CUSTOMER_ID).agg(neg=("_neg", "mean"), det=("_det", "max"))
    unhappy_ids = set(per_person.index[(per_person["neg"] >= 0.5) | (per_person["det"] > 0)].astype(str))
    at_risk = ids.isin(unhappy_ids).to_numpy() | churning.to_numpy()
    respondent_ids = set(feedback[S.CUSTOMER_ID].astype(str))

    def line(kind: str, key: str, label: str, members: np.ndarray) -> ValueLine:
        """members: boolean mask over the customer table."""
        risk = members & at_risk
        return ValueLine(
            kind=kind,
            key=key,
            label=label,
            customers=int(members.sum()),
            respondents=int(ids[members].isin(respondent_ids).sum()),
            value=float(values[members].sum()),
            value_at_risk=float(values[risk].sum()),
            at_risk_customers=int(risk.sum()),
        )

    result = ValueResult(
        column=value_column,
        total_value=float(values.sum()),
        total_at_risk=float(values[at_risk].sum()),
        missing_values=missing,
        unhappy_rule=(
            "half or more of their comments negative, or a detractor's score"
            + (f", or churned ({', '.join(churners)})" if churners else "")
        ),
        churn_outcomes=churners,
    )
    topic = feedback[S.TOPIC_ID].to_numpy()
    for theme in sorted(topic_labels):
        who = set(feedback.loc[topic == theme, S.CUSTOMER_ID].astype(str))
        if who:
            result.themes.append(line("theme", str(theme), topic_labels[theme], ids.isin(who).to_numpy()))
    seg = customers[segment].astype(str)
    for name in sorted(seg.unique()):
        result.segments.append(line("segment", name, name, (seg == name).to_numpy()))
    for proposal in (Proposal.from_json(p) if isinstance(p, dict) else p for p in proposals):
        try:
            mask = np.array(apply_rule(customers, proposal.rule), dtype=bool)
        except RefineError:
            continue  # a rule that no longer applies to this table is reported elsewhere
        if proposal.kind == "merge":
            mask &= seg.isin(proposal.segments).to_numpy()
        result.proposals.append(line("proposal", str(proposal.id), proposal.rule, mask))
    for kind in ("themes", "segments", "proposals"):
        _rank(getattr(result, kind))
    return result


def _rank(lines: list[ValueLine]) -> None:
    for rank, item in enumerate(sorted(lines, key=lambda x: (-x.customers, x.key)), start=1):
        item.rank_by_count = rank
    for rank, item in enumerate(sorted(lines, key=lambda x: (-x.value_at_risk, -x.value, x.key)), start=1):
        item.rank_by_value = rank


def money(value: float | None) -> str:
    """A value amount for the report: 1.2M, 35.4k, 950."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:,.1f}k"
    return f"{value:,.0f}"
