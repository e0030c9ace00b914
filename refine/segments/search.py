"""Candidate conditions on any customer table, and a scan that tests all of them at once.

Every attribute becomes a *binned* column: one integer code per customer, the last code meaning
"missing". A condition is an interval of codes ``[low, high)``:

* boolean and categorical attributes: one bin per level with at least ``min_segment_size``
  customers (every such level is a candidate, up to hundreds of levels); rarer levels share one
  "other" bin that is never a candidate on its own (a rule listing 200 rare stores is not one a
  person would target); a missing value is a level of its own (``col == None``);
* numeric attributes: bins between cuts on a fine grid of quantiles (from 1% to 99%), each cut
  rounded to two significant figures (``spend >= 8000``, not ``spend >= 7983.41``); conditions are
  every threshold in both directions and every range ``a <= x < b`` up to half the customers;
* dates (ISO strings or datetime columns): the same as numbers, on days before a fixed reference
  (the latest date in the column, never the wall clock), with cuts at round day counts and rules
  written on the date itself (``last_order < "2024-02-01"``), which a CRM can target as is.

Columns that are not targetable attributes are skipped and reported with the reason: id-like
columns (nearly one value per customer) and free text (long strings), as refine.io.limits.classify_column
defines them (the same definition the limits at ingest use), and columns most of whose cells are phone,
card numbers or e-mail addresses (refine.io.privacy.personal_column; a phone held as a number is numeric).

The scan (``scan_stratified``, ``scan_within``) evaluates every condition on every measure from
per-bin sufficient statistics (count, sum, sum of squares per segment x bin), so a 300-level
attribute or a numeric attribute with hundreds of cut pairs costs a few ``bincount`` passes over the
customers rather than one pass per condition. Its p-values are the same tests as refine.stats
(Mantel-Haenszel pooled within segments for NEW, Welch / two-proportion z within a segment for
SPLIT); every one of them enters the Benjamini-Hochberg family of its kind, so choosing the best
cut among many is paid for in the discovery correction, and the holdout test confirms it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from refine.errors import RefineError
from refine.io.ingest import flag_answers
from refine.io.limits import BOOLEAN, DATE, FREE_TEXT, ID_LIKE, NUMERIC, classify_column, date_values
from refine.io.privacy import personal_column, personal_value, redact
from refine.segments.rules import condition, format_value, parse_rule, quote_column

# quantiles where numeric cuts are placed; dense in the tails, where small subgroups live
CUT_QUANTILES = (
    0.01,
    0.02,
    0.03,
    0.04,
    0.05,
    0.06,
    0.08,
    0.1,
    0.12,
    0.15,
    0.2,
    0.25,
    0.3,
    0.35,
    0.4,
    0.45,
    0.5,
    0.55,
    0.6,
    0.65,
    0.7,
    0.75,
    0.8,
    0.85,
    0.88,
    0.9,
    0.92,
    0.94,
    0.95,
    0.96,
    0.97,
    0.98,
    0.99,
)
MAX_RANGE_SHARE = 0.5
MIN_EVENTS = (
    10  # a 0/1 measure is tested only with this many yes and no answers (refine.segments.propose._enough_events)
)
# ... and only when each side expects at least this many of each answer were there no difference (the
# usual condition for the z / chi-square approximation): 20 respondents in a narrow range, on a topic
# 2% raise, expect 0.4 mentions, and 4 mentions read as z = 5.7 where an exact test says p ~ 1e-3
MIN_EXPECTED = 5.0
_ROUND_DAYS = (7, 14, 30, 60, 90, 120, 180, 270, 365, 540, 730, 1095, 1460, 1825, 2555, 3650)


@dataclass
class Condition:
    """One single-attribute condition: the rule text and the interval of bin codes it selects."""

    column: str
    text: str
    low: int
    high: int  # bins low <= code < high
    size: int  # customers selected, over the whole table
    note: str = ""  # how a date rule reads in days, e.g. "90+ days before 2024-05-01"
    is_range: bool = False  # a <= x < b (two cuts), as opposed to a level, a threshold or missing


@dataclass
class Attribute:
    """A rule column as the search sees it: kind, per-customer bin codes and its conditions."""

    column: str
    kind: str  # boolean | category | numeric | date
    codes: np.ndarray  # per customer row: bin, n_bins - 1 = missing
    n_bins: int
    conditions: list[Condition] = field(default_factory=list)
    levels: int = 0  # distinct values (categorical) or cuts (numeric / date)


@dataclass
class SkippedColumn:
    """A customer column the search did not use, and why."""

    column: str
    reason: str

    def to_json(self) -> dict:
        return {"column": self.column, "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict) -> SkippedColumn:
        return cls(column=data["column"], reason=data["reason"])


def nice(value: float) -> float:
    """Round to two significant figures (8,012.5 -> 8,000; 0.0347 -> 0.035)."""
    if value == 0 or not math.isfinite(value):
        return value
    magnitude = 10 ** (math.floor(math.log10(abs(value))) - 1)
    return round(round(value / magnitude) * magnitude, 12)


def describe_columns(
    customers: pd.DataFrame, columns: list[str], min_size: int
) -> tuple[list[Attribute], list[SkippedColumn]]:
    """Bin every usable attribute column and list its candidate conditions; report the skipped ones."""
    attributes, skipped = [], []
    n = len(customers)
    for column in columns:
        values = customers[column]
        blank = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
        if blank.all():  # the real reason, not "no cut leaves enough customers"
            skipped.append(SkippedColumn(column, f"empty in every row ({n:,} customers)"))
            continue
        personal = personal_column(values)
        if personal:  # a rule would print one of them in proposals.json and the report
            skipped.append(SkippedColumn(column, f"holds {personal}: not searched"))
            continue
        kind, distinct = classify_column(values)  # the one definition, shared with the limits at ingest
        if kind == BOOLEAN:
            attribute = _categorical(column, values.astype(object), min_size, n, kind="boolean")
        elif kind == DATE:
            dates = date_values(values)
            assert dates is not None  # classify_column found it a date column
            attribute = _dated(column, dates, values, min_size, n)
        elif kind == NUMERIC:
            if len(values.dropna().unique()) <= 6:
                attribute = _categorical(column, values.astype(object), min_size, n, kind="category")
            else:
                attribute = _numeric(column, values.astype(float), min_size, n)
        else:
            missing = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
            present = values[~missing]
            if kind == FREE_TEXT:
                median = int(present.astype(str).str.len().median())
                skipped.append(
                    SkippedColumn(
                        column,
                        f"free text: {distinct:,} distinct values in {len(present):,}, median length {median} characters",
                    )
                )
                continue
            if kind == ID_LIKE:
                skipped.append(SkippedColumn(column, f"id-like: {distinct:,} distinct values in {len(present):,}"))
                continue
            answers = flag_answers(values) if distinct <= 40 else None  # a few spellings of yes and no at most
            if answers is not None:  # yes/no as held: searched as a flag, written with the spellings it saw
                attribute = _flag(column, answers, values, min_size, n)
            else:
                attribute = _categorical(column, values.where(~missing, None).astype(object), min_size, n)
        if attribute is None or not attribute.conditions:
            skipped.append(SkippedColumn(column, f"no value or cut leaves {min_size:,}+ customers on both sides"))
            continue
        attributes.append(attribute)
    return attributes, skipped


MAX_RECORDED_VALUES = 20


def observed_columns(
    customers: pd.DataFrame, rules: list[str], cap: int | None = MAX_RECORDED_VALUES
) -> dict[str, dict]:
    """Per column a rule names: its kind and distinct values as the table holds them (run.json ``rule_columns``).

    ``{column: {"kind": boolean | category | numeric | date | ..., "distinct": n, "values": [...]}}``; at
    most MAX_RECORDED_VALUES values (sorted, as text), so `refine assign` can tell that a yes/no column
    became 1/0, or that a value a rule names is gone. A column the table does not hold is left out.
    """
    columns: list[str] = []
    for rule in rules:
        try:
            columns += [c for c in parse_rule(rule).columns if c not in columns]
        except RefineError:  # an unparseable rule is refused where it is applied, not here
            continue
    out = {}
    for column in columns:
        if column not in customers.columns:
            continue
        values = customers[column]
        kind = BOOLEAN if flag_answers(values) is not None else classify_column(values)[0]
        present = values[values.notna()]
        if pd.api.types.is_datetime64_any_dtype(present):
            text = present.dt.strftime("%Y-%m-%d")
        else:
            text = present.map(lambda v: v if isinstance(v, str) else format_value(v))
        distinct = sorted({str(v) for v in text if str(v).strip()})
        # run.json holds them: a stray e-mail or phone number in the column is recorded redacted
        out[column] = {"kind": kind, "distinct": len(distinct), "values": [redact(v) for v in distinct[:cap]]}
    return out


def _finish(attribute: Attribute, min_size: int, n: int) -> Attribute:
    counts = np.bincount(attribute.codes, minlength=attribute.n_bins)
    edges = np.concatenate([[0], np.cumsum(counts)])
    kept = []
    seen = set()
    for c in attribute.conditions:
        c.size = int(edges[c.high] - edges[c.low])
        if c.size < min_size or n - c.size < min_size or c.text in seen:
            continue
        seen.add(c.text)
        kept.append(c)
    attribute.conditions = kept
    return attribute


def _categorical(
    column: str, values: pd.Series, min_size: int, n: int, kind: str = "category", spellings: dict | None = None
) -> Attribute:
    missing = values.isna().to_numpy()
    counts = values[~missing].value_counts()
    # a level that is an e-mail, phone or card number is pooled with the rare ones: no rule prints it
    big = sorted(
        (v for v, k in counts.items() if k >= min_size and not personal_value(v)), key=lambda v: (str(type(v)), v)
    )
    index = {v: i for i, v in enumerate(big)}
    other = len(big)  # rare levels pooled: never a condition on its own
    missing_bin = other + 1
    codes = values.map(index).to_numpy(dtype=float, na_value=np.nan)
    codes = np.where(np.isnan(codes), other, codes).astype(np.int64)
    codes[missing] = missing_bin
    conditions = [Condition(column, _level_text(column, v, spellings), i, i + 1, 0) for i, v in enumerate(big)]
    conditions.append(Condition(column, f"{quote_column(column)} == None", missing_bin, missing_bin + 1, 0))
    attribute = Attribute(column, kind, codes, missing_bin + 1, conditions, levels=len(counts))
    return _finish(attribute, min_size, n)


def _flag(column: str, answers: pd.Series, raw: pd.Series, min_size: int, n: int) -> Attribute:
    """A yes/no text column: two levels (True, False), each rule listing every spelling of its answer as held
    (``Uses App == "yes"``; ``Uses App in ["Y", "Yes", "yes"]``)."""
    spellings: dict[bool, list[str]] = {}
    for answer in (True, False):
        spellings[answer] = sorted({str(v) for v in raw[(answers == answer).to_numpy()]})
    attribute = _categorical(column, answers, min_size, n, kind="boolean", spellings=spellings)
    return attribute


def _level_text(column: str, value, spellings: dict | None) -> str:
    held = (spellings or {}).get(value)
    if not held:
        return condition(column, "==", value)
    return condition(column, "==", held[0]) if len(held) == 1 else condition(column, "in", held)


def _cuts(x: np.ndarray, round_to) -> list[float]:
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return []
    qs = np.quantile(finite, CUT_QUANTILES)
    cuts = sorted({round_to(float(q)) for q in qs})
    lo, hi = float(finite.min()), float(finite.max())
    return [c for c in cuts if lo < c <= hi]


def _interval_conditions(column: str, cuts: list, text_at_least, text_below, text_range, n: int) -> list[Condition]:
    m = len(cuts)
    out = []
    # bins: 0 (below the first cut) .. m (at or above the last); m + 1 missing
    for j, cut in enumerate(cuts, start=1):
        out.append(Condition(column, text_at_least(cut), j, m + 1, 0))
        out.append(Condition(column, text_below(cut), 0, j, 0))
    for i in range(1, m + 1):
        for j in range(i + 1, m + 1):
            out.append(Condition(column, text_range(cuts[i - 1], cuts[j - 1]), i, j, 0, is_range=True))
    out.append(Condition(column, f"{quote_column(column)} == None", m + 1, m + 2, 0))
    return out


def _numeric(column: str, values: pd.Series, min_size: int, n: int) -> Attribute:
    x = values.to_numpy(dtype=float, na_value=np.nan)
    cuts = _cuts(x, nice)
    name = quote_column(column)
    conditions = _interval_conditions(
        column,
        cuts,
        lambda c: condition(column, ">=", c),
        lambda c: condition(column, "<", c),
        lambda a, b: f"{format_value(a)} <= {name} < {format_value(b)}",
        n,
    )
    codes = np.searchsorted(np.asarray(cuts, dtype=float), x, side="right").astype(np.int64)
    codes[~np.isfinite(x)] = len(cuts) + 1
    attribute = Attribute(column, "numeric", codes, len(cuts) + 2, conditions, levels=len(cuts))
    return _trim_ranges(_finish(attribute, min_size, n), n)


def _round_days(days: float) -> float:
    return float(min(_ROUND_DAYS, key=lambda d: abs(d - days))) if days > 0 else 0.0


def _dated(column: str, dates: pd.Series, raw: pd.Series, min_size: int, n: int) -> Attribute:
    reference = dates.max().normalize()  # the latest date in the column: fixed by the data, not the clock
    days = ((reference - dates).dt.total_seconds() / 86400).to_numpy(dtype=float, na_value=np.nan)
    days_cuts = sorted({_round_days(d) for d in np.quantile(days[np.isfinite(days)], CUT_QUANTILES)} - {0.0})
    # a date cut d days before the reference; ordered by the date itself (oldest first)
    date_cuts = sorted(reference - pd.Timedelta(days=d) for d in days_cuts)
    as_text = [c.strftime("%Y-%m-%d") for c in date_cuts]
    ref = reference.strftime("%Y-%m-%d")
    name = quote_column(column)
    by_text = {t: int(round((reference - c).days)) for t, c in zip(as_text, date_cuts)}
    conditions = _interval_conditions(
        column,
        as_text,
        lambda c: f'{name} >= "{c}"',
        lambda c: f'{name} < "{c}"',
        lambda a, b: f'"{a}" <= {name} < "{b}"',
        n,
    )
    for c in conditions:
        if c.text.endswith("== None"):
            c.note = "no date recorded"
        elif c.low == 0:
            c.note = f"more than {by_text[as_text[c.high - 1]]} days before {ref}, the latest date in the column"
        elif c.high == len(as_text) + 1:
            c.note = f"within {by_text[as_text[c.low - 1]]} days of {ref}, the latest date in the column"
        else:
            c.note = (
                f"between {by_text[as_text[c.high - 1]]} and {by_text[as_text[c.low - 1]]} days before {ref}, "
                "the latest date in the column"
            )
    stamps = dates.to_numpy(dtype="datetime64[ns]")
    cut_stamps = np.asarray([np.datetime64(c.to_datetime64(), "ns") for c in date_cuts])
    codes = np.searchsorted(cut_stamps, stamps, side="right").astype(np.int64)
    codes[pd.isna(dates).to_numpy()] = len(as_text) + 1
    attribute = Attribute(column, "date", codes, len(as_text) + 2, conditions, levels=len(as_text))
    return _trim_ranges(_finish(attribute, min_size, n), n)


def _trim_ranges(attribute: Attribute, n: int) -> Attribute:
    m = attribute.n_bins - 2
    attribute.conditions = [
        c
        for c in attribute.conditions
        if c.low == 0 or c.high >= m + 1 or c.size <= MAX_RANGE_SHARE * n  # thresholds and missing always
    ]
    return attribute


# ---- the scan -------------------------------------------------------------------------------------


@dataclass
class ScanResult:
    """Per condition x measure: raw p-value, standardized effect and difference (NaN where untestable)."""

    conditions: list[Condition]
    measures: list[str]
    p: np.ndarray  # (conditions, measures)
    effect: np.ndarray
    diff: np.ndarray
    respondents_group: np.ndarray  # (conditions,)
    respondents_rest: np.ndarray


def _bin_stats(codes: np.ndarray, strata: np.ndarray, n_strata: int, n_bins: int, values: np.ndarray):
    """Count, sum and sum of squares of the finite values per stratum x bin (rows outside: stratum -1)."""
    ok = np.isfinite(values) & (strata >= 0)
    key = strata[ok] * n_bins + codes[ok]
    v = values[ok]
    size = n_strata * n_bins
    count = np.bincount(key, minlength=size).reshape(n_strata, n_bins).astype(float)
    total = np.bincount(key, weights=v, minlength=size).reshape(n_strata, n_bins)
    squares = np.bincount(key, weights=v * v, minlength=size).reshape(n_strata, n_bins)
    return count, total, squares


def _interval_sums(stat: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    edges = np.concatenate([np.zeros((stat.shape[0], 1)), np.cumsum(stat, axis=1)], axis=1)
    return edges[:, high] - edges[:, low]  # (strata, conditions)


def _group_and_rest(attribute: Attribute, conditions, strata, n_strata, values, totals=None):
    count, total, squares = _bin_stats(attribute.codes, strata, n_strata, attribute.n_bins, values)
    low = np.array([c.low for c in conditions], dtype=np.int64)
    high = np.array([c.high for c in conditions], dtype=np.int64)
    g = [_interval_sums(s, low, high) for s in (count, total, squares)]
    if totals is None:
        totals = [s.sum(axis=1, keepdims=True) for s in (count, total, squares)]
    r = [t - x for t, x in zip(totals, g)]
    return g, r


def enough_expected(n1, e1, n0, e0) -> np.ndarray:
    """Per column: does each side expect MIN_EXPECTED yes and no answers under no difference?

    Arrays over strata (axis 0): respondents and yes answers in the group (n1, e1) and in the rest.
    """
    n1, e1, n0, e0 = (np.asarray(x, dtype=float) for x in (n1, e1, n0, e0))
    total = n1 + n0
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = np.where(total > 0, (e1 + e0) / np.where(total > 0, total, 1), 0.0)
    expected = [(n * share).sum(axis=0) for n in (n1, n0) for share in (pooled, 1 - pooled)]
    return np.minimum.reduce(expected) >= MIN_EXPECTED


def _stratified(g, r, binary: bool):
    """Mantel-Haenszel pooled group-minus-rest over strata (axis 0), as refine.stats.stratified_compare."""
    n1, s1, q1 = g
    n0, s0, q0 = r
    ok = (n1 >= 2) & (n0 >= 2)
    n1 = np.where(ok, n1, 0.0)
    n0 = np.where(ok, n0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        m1 = np.where(ok, s1 / np.where(ok, n1, 1), 0.0)
        m0 = np.where(ok, s0 / np.where(ok, n0, 1), 0.0)
        total = n1 + n0
        w = np.where(ok, n1 * n0 / np.where(ok, total, 1), 0.0)
        wsum = w.sum(axis=0)
        diff = (w * (m1 - m0)).sum(axis=0) / wsum
        rest_value = (w * m0).sum(axis=0) / wsum
        group_value = rest_value + diff
        if binary:
            a, c = m1 * n1, m0 * n0
            tot = np.where(ok, total, 1)
            p_k = np.where(ok, (n1**2 * c - n0**2 * a + n1 * n0 * (n0 - n1) / 2) / tot**2, 0.0)
            q_k = np.where(ok, (a * (n0 - c) + c * (n1 - a)) / (2 * tot), 0.0)
            var = (diff * p_k.sum(axis=0) + q_k.sum(axis=0)) / wsum**2
            pooled = np.where(ok, (a + c) / tot, 0.0)
            null_var = (w * pooled * (1 - pooled)).sum(axis=0) / wsum**2  # as stats.stratified_compare
            p1 = np.clip(group_value, 0, 1)
            p0 = np.clip(rest_value, 0, 1)
            effect = 2 * np.arcsin(np.sqrt(p1)) - 2 * np.arcsin(np.sqrt(p0))
        else:
            residual = np.where(ok, (q1 - s1 * m1) + (q0 - s0 * m0), 0.0).sum(axis=0)
            dof = total.sum(axis=0) - 2 * ok.sum(axis=0)
            sigma2 = np.where(dof > 0, residual / np.where(dof > 0, dof, 1), 0.0)
            var = sigma2 / wsum
            effect = np.where(sigma2 > 0, diff / np.sqrt(np.maximum(sigma2, 1e-300)), 0.0)
        se = np.sqrt(np.where(var > 0, var, np.nan))
        if binary:
            p = np.where(null_var > 0, 2 * stats.norm.sf(np.abs(diff) / np.sqrt(np.maximum(null_var, 1e-300))), 1.0)
            p = np.where(var > 0, p, np.nan)
        else:
            p = 2 * stats.norm.sf(np.abs(diff) / se)
    p = np.where(np.isfinite(p) & (wsum > 0), p, np.nan)
    if binary:  # as refine.segments.propose._enough_events, over every stratum with data
        events = (s1 + s0).sum(axis=0)
        total = (g[0] + r[0]).sum(axis=0)
        p = np.where((events >= MIN_EVENTS) & (total - events >= MIN_EVENTS), p, np.nan)
        p = np.where(enough_expected(n1, m1 * n1, n0, m0 * n0), p, np.nan)
    return p, effect, diff


def _two_sample(g, r, binary: bool):
    """Group minus rest in one stratum (axis 0 of length 1): Welch's t or the two-proportion z test."""
    n1, s1, q1 = (x[0] for x in g)
    n0, s0, q0 = (x[0] for x in r)
    ok = (n1 >= 2) & (n0 >= 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        m1, m0 = s1 / n1, s0 / n0
        diff = m1 - m0
        if binary:
            pooled = (s1 + s0) / (n1 + n0)
            se0 = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
            p = np.where(se0 > 0, 2 * stats.norm.sf(np.abs(diff) / se0), 1.0)
            effect = 2 * np.arcsin(np.sqrt(np.clip(m1, 0, 1))) - 2 * np.arcsin(np.sqrt(np.clip(m0, 0, 1)))
        else:
            v1 = np.maximum(q1 - s1 * m1, 0) / (n1 - 1)
            v0 = np.maximum(q0 - s0 * m0, 0) / (n0 - 1)
            se = np.sqrt(v1 / n1 + v0 / n0)
            pooled_sd = np.sqrt(((n1 - 1) * v1 + (n0 - 1) * v0) / (n1 + n0 - 2))
            dof = (v1 / n1 + v0 / n0) ** 2 / ((v1 / n1) ** 2 / (n1 - 1) + (v0 / n0) ** 2 / (n0 - 1))
            p = np.where(se > 0, 2 * stats.t.sf(np.abs(diff) / np.where(se > 0, se, 1), np.where(se > 0, dof, 1)), 1.0)
            effect = np.where(pooled_sd > 0, diff / np.where(pooled_sd > 0, pooled_sd, 1), 0.0)
    if binary:  # as refine.segments.propose._enough_events: too few events for the normal approximation
        events, total = s1 + s0, n1 + n0
        ok = ok & (events >= MIN_EVENTS) & (total - events >= MIN_EVENTS) & enough_expected(n1, s1, n0, s0)
    return np.where(ok, p, np.nan), np.where(ok, effect, 0.0), np.where(ok, diff, 0.0)


def scan_stratified(measures, attribute: Attribute, universe: np.ndarray, conditions=None) -> ScanResult:
    """NEW: every condition of an attribute vs the rest within each segment (universe rows only), pooled."""
    conditions = attribute.conditions if conditions is None else conditions
    n_seg = len(measures.segment_names)
    strata = np.where(universe, measures.segment_codes, -1)
    return _scan(measures, attribute, conditions, strata, n_seg, _stratified)


def scan_within(
    measures, attribute: Attribute, group_rows: np.ndarray, universe: np.ndarray, conditions=None
) -> ScanResult:
    """SPLIT: within one universe (a segment), customers of group_rows matching each condition vs the rest of the universe.

    group_rows is the universe itself for a one-term split, or the universe narrowed by a first term
    for a two-term rule (then the rest keeps the first term's other customers).
    """
    conditions = attribute.conditions if conditions is None else conditions
    strata = np.where(group_rows, 0, -1)
    all_rows = np.where(universe, 0, -1)
    return _scan(measures, attribute, conditions, strata, 1, _two_sample, totals_strata=all_rows)


def scan_splits(measures, attribute: Attribute, universe: np.ndarray, segments: list[int], conditions_of) -> list:
    """SPLIT, every segment at once: per segment k, its customers matching each condition vs the rest of k.

    One pass of per-(segment, bin) statistics serves every segment (a segment's row is its own
    scan), instead of one pass over all customers per segment. ``conditions_of(k)`` gives the
    conditions usable in segment k. Returns (segment code, ScanResult) pairs.
    """
    n_seg = len(measures.segment_names)
    strata = np.where(universe, measures.segment_codes, -1)
    resp_codes = attribute.codes[measures.resp_rows]
    resp_strata = strata[measures.resp_rows]
    stats_by_measure = []
    for name, values, over_respondents in measures.columns:
        codes = resp_codes if over_respondents else attribute.codes
        st = resp_strata if over_respondents else strata
        stats_by_measure.append((name, _bin_stats(codes, st, n_seg, attribute.n_bins, values)))
    out = []
    names = [name for name, _, _ in measures.columns]
    for k in segments:
        conditions = conditions_of(k)
        if not conditions:
            continue
        low = np.array([c.low for c in conditions], dtype=np.int64)
        high = np.array([c.high for c in conditions], dtype=np.int64)
        p = np.full((len(conditions), len(names)), np.nan)
        effect = np.zeros_like(p)
        diff = np.zeros_like(p)
        counted = (np.zeros(len(conditions)), np.zeros(len(conditions)))
        for j, (name, per_bin) in enumerate(stats_by_measure):
            rows = [x[k : k + 1] for x in per_bin]
            g = [_interval_sums(x, low, high) for x in rows]
            r = [x.sum(axis=1, keepdims=True) - y for x, y in zip(rows, g)]
            p[:, j], effect[:, j], diff[:, j] = _two_sample(g, r, measures.binary[name])
            if name == "sentiment":
                counted = (g[0][0], r[0][0])
        out.append((k, ScanResult(conditions, names, p, effect, diff, counted[0], counted[1])))
    return out


def _scan(measures, attribute, conditions, strata, n_strata, test, totals_strata=None) -> ScanResult:
    k = len(conditions)
    names = [name for name, _, _ in measures.columns]
    p = np.full((k, len(names)), np.nan)
    effect = np.zeros((k, len(names)))
    diff = np.zeros((k, len(names)))
    # only the rows that count (the universe of a one-segment scan is a few percent of a big table)
    inside = (strata >= 0) if totals_strata is None else (totals_strata >= 0)
    rows = np.flatnonzero(inside)
    resp_inside = np.flatnonzero(inside[measures.resp_rows])
    resp_rows = measures.resp_rows[resp_inside]
    resp_codes, resp_strata = attribute.codes[resp_rows], strata[resp_rows]
    resp_totals = None if totals_strata is None else totals_strata[resp_rows]
    all_codes, all_strata = attribute.codes[rows], strata[rows]
    all_totals = None if totals_strata is None else totals_strata[rows]
    counted = None
    for j, (name, column, over_respondents) in enumerate(measures.columns):
        values = column[resp_inside] if over_respondents else column[rows]
        codes = resp_codes if over_respondents else all_codes
        st = resp_strata if over_respondents else all_strata
        totals = None
        if totals_strata is not None:
            ts = resp_totals if over_respondents else all_totals
            assert ts is not None  # both are set when totals_strata is
            totals = [x.sum(axis=1, keepdims=True) for x in _bin_stats(codes, ts, n_strata, attribute.n_bins, values)]
        sub = Attribute(attribute.column, attribute.kind, codes, attribute.n_bins)
        g, r = _group_and_rest(sub, conditions, st, n_strata, values, totals)
        p[:, j], effect[:, j], diff[:, j] = test(g, r, measures.binary[name])
        if name == "sentiment":
            counted = (g[0].sum(axis=0), r[0].sum(axis=0))
    if counted is None:
        counted = (np.zeros(k), np.zeros(k))
    return ScanResult(conditions, names, p, effect, diff, counted[0], counted[1])
