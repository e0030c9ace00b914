"""MERGE, SPLIT and NEW segment proposals, each with a targetable rule and its evidence.

Method, in the order the code runs:

1. Every customer is assigned (seeded hash) to a *discovery* or a *holdout* part; respondents
   inherit their customer's part. Candidates are searched on discovery only.
2. Measures: per respondent, mean sentiment, negative share, mean score and 0/1 mention of each
   topic; per customer, each outcome.
3. NEW: for each single attribute condition (never an outcome or excluded column), the
   difference between customers who match and those who do not is estimated *within* each
   segment and pooled with Mantel-Haenszel weights, so a segment mix cannot fake it. It becomes a NEW
   candidate when it is significant and holds in at least half of the segments with data.
4. SPLIT: inside each segment, conditions (one, then two terms) are compared against the rest of
   the segment. Conditions already proposed as NEW segments are not reused.
5. MERGE: every pair of segments at or above the minimum size (MERGE_FAMILY_CAP pairs at most, the
   largest by size alone) is tested for equivalence on all its customers, with no selection step: every
   outcome that varies and every feedback measure with enough answers (score, mean sentiment, negative
   share: TOST within the margin; topic mix: a bootstrap bound on the distance between the topic
   distributions) must be equivalent, an intersection-union test; Holm over the pairs tested, so the
   family-wise error of the merge family is at most alpha. Measures constant, all missing or too thin
   are listed as not compared; with no outcome compared a merge is not confirmed. A segment below the
   minimum size is a merge candidate with its nearest neighbour, under a status of its own, never confirmed.
6. NEW and SPLIT p-values are Benjamini-Hochberg adjusted across every comparison made in discovery. Each
   surviving candidate is re-tested on the holdout part, once: its most significant discovery measure,
   one-sided in the direction found, exactly (Fisher; a permutation within segments for NEW) where a
   0/1 measure is too thin for the z-test (BH across candidates); only those that hold there are
   ``confirmed``, with the rule that was tested. Confirmed proposals rank first.
7. Guardrails (minimum size, minimum effect, maximum segment count) stop candidates; the
   ``stopped`` list says which guardrail stopped which candidate.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from refine import schemas as S
from refine.io.config import ProposalSettings, RefineConfig
from refine.segments.merges import GROUP_TEST, group_merges
from refine.segments.model import Evidence, Proposal, ProposalMethod, ProposalResult, StoppedCandidate
from refine.segments.profiles import parent_mentions
from refine.segments.rules import apply_rule, condition, conjunction
from refine.segments.search import (
    Attribute,
    Condition,
    describe_columns,
    enough_expected,
    scan_splits,
    scan_stratified,
    scan_within,
)
from refine.stats import (
    Z95,
    Comparison,
    adjust_pvalues,
    benjamini_hochberg,
    compare,
    fisher_one_sided,
    nps,
    one_sided_p,
    stratified_compare,
    stratified_permutation,
    tost,
)

PERMUTATIONS = 999
MIN_ANSWERS = 10  # answers each side of a merge needs for a measure to be compared
BOOTSTRAP = 999  # resamples for the topic-mix distance's upper bound
# topic mix: the largest total variation distance between two segments' topic distributions (the share of
# topic mentions that would have to move) still called the same mix; measured at the topic level of topics.json
TOPIC_MIX_MARGIN = 0.15
TOPIC_LEVEL = "child (the topics of topics.json)"
# when the child level is too thin, the mix is compared over the parent themes (topic_parent_id): a few broad
# themes need far fewer comments than 40 narrow ones to show the same mix
PARENT_LEVEL = "parent (the parent themes of topics.json)"
TOO_SMALL = "too small to stand alone"
# a measure has enough answers to test when two identical segments would be shown equivalent with 80%
# probability: margin / standard error >= z(0.95) + z(0.90) (about 190 answers a side at 0.3 SD)
ENOUGH_POWER = 1.645 + 1.2816
# the parent-level mix is compared where two identical segments would be shown alike with about 80% probability,
# the bar of every TOST measure: with two parent themes the distance is a difference of two proportions, whose
# noise (0.8 SE) must stay under 0.8 x margin / ENOUGH_POWER; more parents are held to the same summed noise
# (stricter than needed with more parents). The child level keeps its older bar (noise under half the margin).
PARENT_MIX_FLOOR = 0.8 * TOPIC_MIX_MARGIN / ENOUGH_POWER  # about 0.041
# unconfirmed merge pairs shown as cards (every compared measure equivalent uncorrected, not after Holm)
MERGE_PAIRS = 3
# the MERGE family: every pair of segments up to this many pairs (every pair of 10 segments); above it, the
# pairs with the most customers (harmonic mean of the two sizes: a criterion blind to the outcomes)
MERGE_FAMILY_CAP = 45
# what the correction covers, worded as it runs (proposals.json method, report method section, README)
CORRECTION = (
    "Benjamini-Hochberg within each family of discovery comparisons, not across families: NEW (every "
    "condition tested x every measure) and SPLIT (every segment x condition x measure); a second rule term "
    "is judged at Bonferroni thresholds over every condition it was chosen from. On the holdout, one test "
    "per NEW or SPLIT candidate, of its most significant discovery measure, one-sided in the direction "
    "found (Welch or two-proportion z; Mantel-Haenszel within segments for NEW; a 0/1 measure too thin for "
    "the z-test: Fisher's exact test, or for NEW a permutation within segments), and the rule tested is the "
    "rule proposed; BH across the NEW candidates, then across the SPLIT candidates. "
    "MERGE: every pair of the segments at or above the minimum size (at most "
    f"{MERGE_FAMILY_CAP} pairs, the largest by size), on all customers (no discovery step, no holdout): every "
    "outcome that varies and every feedback measure with enough answers (score, mean sentiment, negative "
    "share, topic mix: over the topics, or over the parent themes where the topics are too thin) must be "
    "equivalent, and none too thin to test may differ (p < 0.05 each, uncorrected): an intersection-union "
    "test that needs no "
    "correction across the measures (its p is the largest of theirs); Holm over the pairs tested (family-wise "
    "error at most alpha). A pair with no outcome that varies is not confirmed; a merge of a segment below the "
    "minimum size is never confirmed"
)
# candidates carried from the scan to the full checks, per attribute (NEW) or per attribute and segment
# (SPLIT): the strongest conditions that do not overlap (two planted groups rarely share an attribute)
NEW_PER_ATTRIBUTE = 2
SPLIT_PER_ATTRIBUTE = 2
MIN_EVENTS = 10  # respondents with (and without) a 0/1 measure needed to test a share (see _enough_events)
RANGE_PENALTY = 0.85  # a two-cut range wins over a one-cut threshold only when 1 / 0.85 times as strong


@dataclass
class Candidate:
    kind: str
    segments: list[str]
    rule: str
    terms: list[str]
    mask: pd.Series  # over all customers
    comparisons: list[Comparison] = field(default_factory=list)
    holdout: list[Comparison] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _stable_hash(*parts: Any) -> float:
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_parts(customer_ids: pd.Series, seed: int, holdout_fraction: float) -> pd.Series:
    """'holdout' or 'discovery' per customer, from a seeded hash of the id (row order does not matter).

    The same draw as ``_stable_hash(seed, "part", id) < holdout_fraction``, written out because it
    runs once per customer (a million of them in bench/scale_bench.py).
    """
    prefix = f"{seed}\x00part\x00"
    sha256 = hashlib.sha256
    draws = [int.from_bytes(sha256((prefix + str(c)).encode()).digest()[:8], "big") / 2**64 for c in customer_ids]
    return pd.Series(
        np.where(np.array(draws) < holdout_fraction, "holdout", "discovery"),
        index=customer_ids.index,
        name=customer_ids.name,
    )


# ---- measuring a group against the rest ------------------------------------------------------


@dataclass
class Measures:
    """What can differ between groups, aligned on the customer table's rows.

    Respondent measures are held over the respondents' rows only (`resp_rows`: their positions in the
    customer table): a tenth of a large customer table, and the rest would be NaN. At a million customers
    and 160 themes, a frame over every customer was 1.3 GB, built twice (issue 32). Outcomes are per
    customer, and the segment of every row is an integer code. Group comparisons index these arrays instead
    of masking pandas Series over every customer, which made `propose` the slowest stage at a million
    customers (bench/scale_bench.py).
    """

    respondent: pd.DataFrame  # the respondents' rows (see resp_rows); given over every customer, it is cut to them
    outcomes: pd.DataFrame  # per customer row
    binary: dict[str, bool]
    segment_codes: np.ndarray | None = None  # per customer row: index into segment_names
    segment_names: list = field(default_factory=list)  # sorted
    # per respondent row: 0/1 mention of each parent theme (`parent_{id}`); None without parent themes. Read by
    # the merge's topic mix at the parent level.
    parents: pd.DataFrame | None = None
    # positions of `respondent`'s rows in the customer table; None: `respondent` has a row per customer,
    # and the respondents are the rows with a sentiment
    resp_rows: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.resp_rows is None:
            self.resp_rows = np.flatnonzero(self.respondent["sentiment"].notna().to_numpy())
            self.respondent = self.respondent.iloc[self.resp_rows]
            if self.parents is not None:
                self.parents = self.parents.iloc[self.resp_rows]
        self.responded = np.zeros(len(self.outcomes), dtype=bool)
        self.responded[self.resp_rows] = True
        self.columns = [
            (name, self.respondent[name].to_numpy(dtype=float, na_value=np.nan), True)
            for name in self.respondent.columns
        ]
        self.columns += [
            (name, self.outcomes[name].to_numpy(dtype=float, na_value=np.nan), False) for name in self.outcomes.columns
        ]

    @property
    def names(self) -> list[str]:
        return list(self.respondent.columns) + list(self.outcomes.columns)

    def over_customers(self, name: str) -> pd.Series:
        """A respondent measure as a Series over every customer row: NaN where the customer did not respond."""
        values = np.full(len(self.outcomes), np.nan)
        values[self.resp_rows] = self.respondent[name].to_numpy(dtype=float, na_value=np.nan)
        return pd.Series(values, index=self.outcomes.index, name=name)


def build_measures(
    customers: pd.DataFrame,
    respondents: pd.DataFrame,
    config: RefineConfig,
    topic_ids: list[int],
    parents: pd.DataFrame | None = None,
) -> Measures:
    ids = customers[config.customers.customer_id]
    columns = ["sentiment", "negative"] + [f"topic_{t}" for t in topic_ids]
    if respondents["score"].notna().sum() >= 2 * config.proposals.min_respondents:
        columns.append("score")
    # the respondents' rows only, in customer-table order: no frame over every customer (see Measures)
    found = respondents.index.get_indexer(ids.values)
    rows = np.flatnonzero(found >= 0)
    respondent = respondents[columns].iloc[found[rows]]
    answered = respondent["sentiment"].notna().to_numpy()
    rows, respondent = rows[answered], respondent.iloc[np.flatnonzero(answered)]
    outcomes = customers[config.customers.outcomes].astype(float)
    # shares per respondent (mostly 0 or 1) are tested as proportions: Welch's test on a group whose
    # sample happens to be all zeros would claim certainty it does not have
    binary = {c: c.startswith("topic_") or c == "negative" for c in columns}
    for outcome in config.customers.outcomes:
        values = outcomes[outcome].dropna()
        binary[outcome] = bool(len(values) and values.isin([0.0, 1.0]).all())
    names = sorted(customers[config.customers.segment].unique())
    codes = pd.Categorical(customers[config.customers.segment], categories=names).codes.astype(np.int64)
    by_row = None
    if parents is not None and parents.shape[1] > 1:  # one parent theme is no mix
        by_row = parents.reindex(ids.values[rows])
    return Measures(
        respondent=respondent,
        outcomes=outcomes,
        binary=binary,
        segment_codes=codes,
        segment_names=names,
        parents=by_row,
        resp_rows=rows,
    )


def _flags(mask) -> np.ndarray:
    return mask.to_numpy(dtype=bool, na_value=False) if isinstance(mask, pd.Series) else np.asarray(mask, dtype=bool)


def measure_group(measures: Measures, group, rest) -> list[Comparison]:
    """Group vs rest on every measure (respondent measures over respondents, outcomes over customers)."""
    g, r = _flags(group), _flags(rest)
    g_resp, r_resp = g[measures.resp_rows], r[measures.resp_rows]
    out = []
    for name, values, over_respondents in measures.columns:
        a, b = (g_resp, r_resp) if over_respondents else (g, r)
        if measures.binary[name] and not _enough_events([(values[a], values[b])]):
            continue
        c = compare(name, values[a], values[b], binary=measures.binary[name])
        if c is not None:
            out.append(c)
    return out


def _enough_events(strata: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    """A share is tested only with MIN_EVENTS respondents on each answer (yes and no) across both sides,
    and when each side expects MIN_EXPECTED of each answer were there no difference (as the scan).

    The z-test's normal approximation fails with a handful of events: 4 of 18 respondents on a
    topic nobody else of 176 raised reads as p = 1e-10, where an exact test says about 3e-4.
    """
    cells = []
    for group, rest in strata:
        g = np.asarray(group, dtype=float)
        r = np.asarray(rest, dtype=float)
        cells.append((g[np.isfinite(g)], r[np.isfinite(r)]))
    events = sum(float(g.sum() + r.sum()) for g, r in cells)
    answers = sum(len(g) + len(r) for g, r in cells)
    if events < MIN_EVENTS or answers - events < MIN_EVENTS:
        return False
    used = [(g, r) for g, r in cells if len(g) >= 2 and len(r) >= 2]  # the strata the test pools
    if not used:
        return False
    n1, e1, n0, e0 = (
        np.array([f(pair) for pair in used])
        for f in (lambda x: len(x[0]), lambda x: x[0].sum(), lambda x: len(x[1]), lambda x: x[1].sum())
    )
    return bool(enough_expected(n1, e1, n0, e0))


def _cell_slices(cell: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Row order that groups rows by cell (keeping their order within a cell) and each cell's bounds."""
    inside = np.flatnonzero(cell >= 0)
    order = inside[np.argsort(cell[inside], kind="stable")]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(cell[inside], minlength=n_cells))])
    return order, bounds


def measure_stratified(measures: Measures, group, universe) -> tuple[list[Comparison], dict[str, list[dict]]]:
    """Group vs rest within each segment, pooled; also the per-segment differences."""
    out, per_segment = [], {}
    g, u = _flags(group), _flags(universe)
    # cell 2k: segment k, group; cell 2k + 1: segment k, rest; -1: outside the universe
    codes = measures.segment_codes
    assert codes is not None  # build_measures always sets them
    cell = np.where(u, 2 * codes + (~g).astype(np.int64), -1)
    present = np.unique(codes[u])
    n_cells = 2 * len(measures.segment_names)
    by_customer = _cell_slices(cell, n_cells)
    by_respondent = _cell_slices(cell[measures.resp_rows], n_cells)
    for name, values, over_respondents in measures.columns:
        order, bounds = by_respondent if over_respondents else by_customer
        v = values[order]
        strata, rows = [], []
        for k in present:
            g_values = v[bounds[2 * k] : bounds[2 * k + 1]]
            r_values = v[bounds[2 * k + 1] : bounds[2 * k + 2]]
            strata.append((g_values, r_values))
            c = compare(name, g_values, r_values, binary=measures.binary[name])
            if c is not None:
                rows.append(
                    {
                        "segment": measures.segment_names[k],
                        "effect": c.effect,
                        "diff": c.diff,
                        "p_value": c.p_value,
                        "n_group": c.n_group,
                        "n_rest": c.n_rest,
                    }
                )
        if measures.binary[name] and not _enough_events(strata):
            continue
        pooled = stratified_compare(name, strata, binary=measures.binary[name])
        if pooled is not None:
            out.append(pooled)
            per_segment[name] = rows
    return out, per_segment


def _respondent_counts(measures: Measures, group, rest) -> tuple[int, int]:
    return int((_flags(group) & measures.responded).sum()), int((_flags(rest) & measures.responded).sum())


# ---- the engine ----------------------------------------------------------------------------------


@dataclass
class _Search:
    """What every step of one proposal search reads: the customers, their measures, the two parts, the guardrails."""

    customers: pd.DataFrame
    segment_col: str
    measures: Measures
    settings: ProposalSettings
    discovery: pd.Series  # True for the customers in the discovery part
    holdout: pd.Series
    min_resp: int  # respondents a discovery group needs
    seed: int
    segments: pd.Series = field(init=False)  # segment per customer
    disc: np.ndarray = field(init=False)  # discovery, as flags
    # the MERGE family's pairs: their tests on all customers and their Holm-adjusted p (set by _search_merges)
    merge_results: dict[tuple[str, str], tuple[dict | None, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.segments = self.customers[self.segment_col]
        self.disc = _flags(self.discovery)


def propose(
    customers: pd.DataFrame,
    feedback: pd.DataFrame,
    respondents: pd.DataFrame,
    config: RefineConfig,
    *,
    rule_columns: list[str],
    topic_labels: dict[int, str],
    seed: int = 0,
) -> ProposalResult:
    """Search, correct, confirm and rank merge / split / new proposals.

    Args:
        customers: accepted customer table (original column names).
        feedback: joined feedback rows (sentiment, topic, segment).
        respondents: one row per respondent (see segments.respondents_table).
        config: column roles and the [proposals] guardrails.
        rule_columns: attribute columns rules may use.
        topic_labels: readable label per topic id.
        seed: seeds the discovery / holdout split and the permutation tests.

    Returns:
        ProposalResult with ranked proposals (JSON-ready), stopped candidates and the method used.
    """
    settings = config.proposals
    cc = config.customers
    topic_ids = sorted(t for t in topic_labels if t >= 0)
    measures = build_measures(customers, respondents, config, topic_ids, parent_mentions(feedback))
    part = split_parts(customers[cc.customer_id], seed, settings.holdout_fraction)
    min_resp = max(5, int(round(settings.min_respondents * (1 - settings.holdout_fraction))))
    search = _Search(customers, cc.segment, measures, settings, part == "discovery", part == "holdout", min_resp, seed)
    attribute_columns = [c for c in rule_columns if c != cc.segment]
    attributes, skipped = describe_columns(customers, attribute_columns, settings.min_segment_size)
    stopped: list[dict] = []

    new = _search_new(search, attributes, stopped)
    # customers of a confirmed NEW segment are left out of the split and merge searches
    in_new = pd.Series(False, index=customers.index)
    for cand in new.candidates:
        if cand.extra["confirmed"]:
            in_new |= cand.mask
    outside = ~in_new
    new_conditions = {c.terms[0] for c in new.candidates if c.extra["confirmed"]}
    splits = _search_splits(search, attributes, new_conditions, outside, stopped)
    merges = _search_merges(search, outside)
    families = {"new": new.family, "split": splits.family, "merge": merges.family}
    candidates = new.candidates + splits.candidates + merges.candidates
    candidates += _small_segment_merges(customers, search.segments, measures, settings, candidates)

    # confirm on the holdout part (the NEW segments were confirmed first)
    _confirm(candidates[len(new.candidates) :], measures, search.holdout, search.segments, settings, seed)
    candidates = _group_overlapping_merges(search, merges, candidates)
    _stop_unconfirmed_merges(merges, stopped)
    proposals = _rank_and_describe(candidates, customers, feedback, measures, settings, topic_labels, config, stopped)
    for s in stopped:
        if s["stopped_by"] == "minimum effect" and "measure" in s:
            s["detail"] = (
                f"largest significant difference ({_measure_label(s['measure'], topic_labels)}) has "
                f"effect size {s['effect']:+.2f}, below the minimum of {settings.min_effect}"
            )
    comparisons = new.comparisons + splits.comparisons + merges.comparisons
    method = _method(search, attributes, skipped, comparisons, families)
    return ProposalResult(proposals=proposals, stopped=[StoppedCandidate.from_json(s) for s in stopped], method=method)


@dataclass
class _Step:
    """One step's chosen candidates, its family record (proposals.json method) and its discovery comparisons."""

    candidates: list[Candidate]
    family: dict[str, Any]
    comparisons: int = 0


def _search_new(search: _Search, attributes: list[Attribute], stopped: list[dict]) -> _Step:
    """NEW: every condition across segments, judged within segments; all of them in one BH family.

    NEW segments are confirmed here, first: only confirmed ones take their customers out of the split search.
    """
    measures, settings = search.measures, search.settings
    new_scans = [(a, scan_stratified(measures, a, search.disc)) for a in attributes]
    candidates, family = _screen(
        new_scans, search.min_resp, settings, per_attribute=NEW_PER_ATTRIBUTE, index=search.customers.index
    )
    for cand in candidates:
        pooled, per_segment = measure_stratified(measures, cand.mask, search.discovery)
        cand.comparisons, cand.extra["per_segment"] = pooled, per_segment
    comparisons = _adjust_in_family(candidates, family)
    chosen = _select_new(
        candidates, settings, stopped, measures, search.discovery, search.segments, tests=family.conditions
    )
    _confirm(chosen, measures, search.holdout, search.segments, settings, search.seed)
    return _Step(chosen, {"conditions": family.conditions, "comparisons": comparisons}, comparisons)


def _split_scans(
    search: _Search, attributes: list[Attribute], new_conditions: set[str], universe: np.ndarray
) -> list[tuple]:
    """(attribute, scan, segment) for every segment big enough to split, on the conditions each may use."""
    measures, settings = search.measures, search.settings
    split_scans = []
    seg_codes = measures.segment_codes
    assert seg_codes is not None  # build_measures always sets them
    seg_sizes = np.bincount(seg_codes, minlength=len(measures.segment_names))
    eligible = [k for k, size in enumerate(seg_sizes) if size >= 2 * settings.min_segment_size]
    for attribute in attributes:
        # customers per segment x bin over the whole table: the size guardrails of each split
        per_bin = np.bincount(
            seg_codes * attribute.n_bins + attribute.codes, minlength=len(seg_sizes) * attribute.n_bins
        )
        edges = np.concatenate(
            [np.zeros((len(seg_sizes), 1)), np.cumsum(per_bin.reshape(len(seg_sizes), attribute.n_bins), axis=1)],
            axis=1,
        )

        def usable(k, attribute=attribute, edges=edges):
            return [
                c
                for c in attribute.conditions
                if c.text not in new_conditions  # the pattern spans segments and is proposed once, as a NEW segment
                and settings.min_segment_size
                <= edges[k, c.high] - edges[k, c.low]
                <= seg_sizes[k] - settings.min_segment_size
            ]

        for k, scan in scan_splits(measures, attribute, universe, eligible, usable):
            split_scans.append((attribute, scan, measures.segment_names[k]))
    return split_scans


def _search_splits(
    search: _Search, attributes: list[Attribute], new_conditions: set[str], outside: pd.Series, stopped: list[dict]
) -> _Step:
    """SPLIT: a subgroup inside one segment, among the customers ``outside`` the confirmed NEW segments."""
    measures, settings, segments, discovery = search.measures, search.settings, search.segments, search.discovery
    split_scans = _split_scans(search, attributes, new_conditions, search.disc & _flags(outside))
    splits, family = _screen(
        split_scans, search.min_resp, settings, per_attribute=SPLIT_PER_ATTRIBUTE, index=search.customers.index
    )
    base_of = {s: condition(search.segment_col, "==", s) for s in sorted(segments.unique())}
    for cand in splits:
        segment = cand.segments[0]
        in_segment = segments == segment
        group, rest = in_segment & cand.mask, in_segment & ~cand.mask
        cand.rule = conjunction(base_of[segment], cand.terms[0])
        cand.mask = group
        cand.comparisons = measure_group(measures, discovery & group & outside, discovery & rest & outside)
        cand.extra.update(segment_mask=in_segment, outside=outside)
    comparisons = _adjust_in_family(splits, family)
    chosen = _select_splits(splits, settings, stopped, measures, discovery, attributes)
    return _Step(chosen, {"conditions": family.conditions, "comparisons": comparisons}, comparisons)


def _search_merges(search: _Search, outside: pd.Series) -> _Step:
    """MERGE: every pair of segments tested for equivalence on all its customers; Holm over the pairs.

    No pair is chosen on the data: the family is fixed by the segments' sizes alone (`_merge_family`), so the
    test needs no holdout, and n is every customer instead of the holdout's 40%. Within a pair, every measure
    must pass (an intersection-union test: the pair's p is the largest); across the pairs, Holm keeps the
    family-wise error at ``alpha``. Confirmed pairs, and at most MERGE_PAIRS pairs equivalent on every
    measure uncorrected but not after Holm, become candidates (the rest of the family is in the method).
    """
    settings = search.settings
    pairs, considered = _merge_family(search, outside)
    level = settings.alpha / max(len(pairs), 1)  # Holm's first step: the level a pair's tests must reach
    tested = {pair: _pair_tests(search, outside, list(pair), level) for pair in pairs}
    q = adjust_pvalues([t["p"] if t else 1.0 for t in tested.values()], "holm")
    comparisons = sum(len(t["tost_p"]) for t in tested.values() if t)
    family: dict[str, Any] = {
        "pairs": considered,
        "tested": len(pairs),
        "sample": "all customers (customers of a confirmed NEW segment set aside)",
        "correction": f"Holm over the {len(pairs)} pairs tested; within a pair an intersection-union test",
        "first_level": level,
        "confirmed": int(np.sum(q < settings.alpha)),
        "comparisons": comparisons,
        "margins": {
            "means": f"{settings.equivalence_margin:g} pooled SD (outcomes, score, mean sentiment)",
            "shares": f"{settings.equivalence_margin:g} pooled SD of the 0/1 answers (sqrt(p(1-p)))",
            "topic_mix": f"total variation distance {TOPIC_MIX_MARGIN:g} (basic bootstrap upper bound)",
            "topic_level": f"{TOPIC_LEVEL}; {PARENT_LEVEL} where the child level is too thin and the run has them",
        },
    }
    search.merge_results = {pair: (t, float(qi)) for (pair, t), qi in zip(tested.items(), q)}
    candidates, near = [], []
    for (pair, tests), qi in zip(tested.items(), q):
        if tests is None:
            continue
        close = bool(tests["tost_p"]) and max(tests["tost_p"]) < settings.alpha
        if qi < settings.alpha:
            candidates.append(_merge_candidate(search, outside, pair, tests, float(qi)))
        elif close:
            near.append((max(tests["tost_p"]), pair, tests, float(qi)))
    for _, pair, tests, qi in sorted(near)[:MERGE_PAIRS]:
        candidates.append(_merge_candidate(search, outside, pair, tests, qi))
    return _Step(candidates, family, comparisons)


def _merge_family(search: _Search, outside: pd.Series) -> tuple[list[tuple[str, str]], int]:
    """The pairs of the MERGE family and how many pairs had enough respondents to be considered.

    A segment below the minimum size is left out (its merge is a size fact, never confirmed), and so is one
    with fewer than MIN_ANSWERS respondents. Above MERGE_FAMILY_CAP pairs, the pairs with the largest
    harmonic mean of their customers are kept: sizes only, never the outcomes, so the family is fixed before
    any equivalence is looked at."""
    kept = _flags(outside)
    segments = search.segments[kept]
    sizes = search.segments.value_counts()
    responded = segments[_flags(search.measures.responded)[kept]].value_counts()
    names = sorted(
        str(s)
        for s in sizes.index
        if sizes[s] >= search.settings.min_segment_size and responded.get(s, 0) >= MIN_ANSWERS
    )
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    if not len(search.measures.outcomes.columns):
        return [], len(pairs)
    counts = segments.value_counts()
    by_size = sorted(pairs, key=lambda p: (-2 / (1 / counts[p[0]] + 1 / counts[p[1]]), p))
    return sorted(by_size[:MERGE_FAMILY_CAP]), len(pairs)


def _merge_candidate(search: _Search, outside: pd.Series, pair: tuple[str, str], tests: dict, q: float) -> Candidate:
    """A tested pair as a merge candidate: its tests, its Holm-adjusted p, and whether it is confirmed."""
    confirmed = q < search.settings.alpha
    extra: dict[str, Any] = {
        "tests": tests,
        "holdout_tests": tests,
        "outside": outside,
        "holdout_q": q,
        "confirmed": confirmed,
        "status": "confirmed" if confirmed else "not confirmed",
    }
    if not confirmed:
        extra["why_not"] = _why_not(tests, q, search.settings.alpha)
    rule = condition(search.segment_col, "in", list(pair))
    return Candidate("merge", list(pair), rule, [], search.segments.isin(pair), [], extra=extra)


def _group_overlapping_merges(search: _Search, merges: _Step, candidates: list[Candidate]) -> list[Candidate]:
    """Confirmed merge pairs sharing a segment become one merge of the group, tested as a whole on the
    holdout, or the best disjoint pairs when the group fails (refine.segments.merges)."""
    if not merges.candidates:
        return candidates
    outside = merges.candidates[0].extra["outside"]

    def make_group(group: list[str], extra: dict) -> Candidate:
        rule = condition(search.segment_col, "in", group)
        return Candidate("merge", group, rule, [], search.segments.isin(group), [], extra=extra)

    def test_pair(a: str, b: str) -> dict | None:
        """A pair of the family brings its Holm-adjusted p; one outside it (too few respondents, or past the
        cap) is tested here on its own, at alpha: a level-alpha test of each pair is all the intersection-union
        test over the group's pairs needs."""
        key = (a, b) if a <= b else (b, a)
        if key in search.merge_results:
            tests, q = search.merge_results[key]
            return dict(tests, p=q) if tests else None
        return _pair_tests(search, outside, list(key), search.settings.alpha)

    grouped, records = group_merges(merges.candidates, test_pair, make_group, search.settings.alpha)
    if records:
        merges.family["groups"] = records
        merges.family["group_test"] = GROUP_TEST
    replaced = {id(c) for c in merges.candidates}
    merges.candidates = grouped
    # a pair left out because it overlaps a stronger merge is no proposal of its own: it is listed as stopped
    shown = [c for c in grouped if not c.extra.get("overlapped_by")]
    return [c for c in candidates if id(c) not in replaced] + shown


def _pair_tests(search: _Search, outside: pd.Series, pair: list[str], level: float) -> dict | None:
    """A pair's merge tests on all its customers: every measure (`_merge_tests`, with enough answers to pass at
    ``level``), then the measures too thin to compare tested for a difference (`_thin_differences`), which can
    only stop the merge; run only where every compared measure passed, the only pairs it could change."""
    segments, settings = search.segments, search.settings
    whole = segments.isin(pair) & outside
    a, b = whole & (segments == pair[0]), whole & (segments == pair[1])
    margin = settings.equivalence_margin
    tests = _merge_tests(search.measures, a, b, margin, search.seed, tuple(pair), level, settings.alpha)
    thin = _thin(tests)
    if tests and thin and "why_not" not in tests and tests["p"] < settings.alpha:
        differ = _thin_differences(search.measures, a, b, thin, search.seed, tuple(pair))
        if differ:
            tests.update(p=1.0, differs_over_all_comments=differ)
            tests["why_not"] = "they differ over all their comments: " + ", ".join(
                f"{r['measure']} (p = {r['p_value']:.3g})" for r in differ
            )
    return tests


def _stop_unconfirmed_merges(merges: _Step, stopped: list[dict]) -> None:
    """A merge candidate not confirmed is stopped, saying why (one that overlaps a stronger merge is stopped by it)."""
    for cand in merges.candidates:
        if not cand.extra["confirmed"]:
            stopped.append(
                {
                    "kind": "merge",
                    "segments": cand.segments,
                    "rule": cand.rule,
                    "stopped_by": "overlaps a stronger merge"
                    if cand.extra.get("overlapped_by")
                    else "not shown equivalent",
                    "detail": cand.extra.get("why_not") or "not shown equivalent",
                    "holm_p": float(cand.extra.get("holdout_q", 1.0)),  # the pair's Holm-adjusted p
                    **({"overlapped_by": cand.extra["overlapped_by"]} if cand.extra.get("overlapped_by") else {}),
                }
            )


def _method(
    search: _Search, attributes: list[Attribute], skipped: list, comparisons: int, families: dict[str, Any]
) -> ProposalMethod:
    """How the proposals were found: the two parts, what was tested, the correction and the guardrails."""
    settings, discovery, holdout = search.settings, search.discovery, search.holdout
    responded = pd.Series(search.measures.responded, index=discovery.index)
    return ProposalMethod(
        discovery_customers=int(discovery.sum()),
        holdout_customers=int(holdout.sum()),
        discovery_respondents=int((discovery & responded).sum()),
        holdout_respondents=int((holdout & responded).sum()),
        conditions_tested=sum(len(a.conditions) for a in attributes),
        comparisons=comparisons,
        correction=CORRECTION,
        alpha=settings.alpha,
        min_effect=settings.min_effect,
        equivalence_margin=settings.equivalence_margin,
        min_segment_size=settings.min_segment_size,
        max_segments=settings.max_segments,
        seed=search.seed,
        families=families,
        attributes=[
            {"column": a.column, "kind": a.kind, "levels": a.levels, "conditions": len(a.conditions)}
            for a in attributes
        ],
        skipped_columns=[s.to_json() for s in skipped],
    )


@dataclass
class Family:
    """Every p-value one family of the discovery search produced (one per condition x measure tested)."""

    p_values: np.ndarray
    owners: np.ndarray  # per p-value: which (scan, condition) it belongs to
    conditions: int  # conditions tested


def _screen(
    scans: list[tuple], min_resp: int, settings, *, per_attribute: int, index: pd.Index
) -> tuple[list[Candidate], Family]:
    """BH over every scanned condition x measure; the strongest few per scan become candidates.

    Conditions with too few respondents on a side are not tested (and not counted), as before.
    """
    p_parts, owner_parts, effect_parts = [], [], []
    tested = 0
    for s, (_attribute, scan, *_rest) in enumerate(scans):
        ok = (scan.respondents_group >= min_resp) & (scan.respondents_rest >= min_resp)
        tested += int(ok.sum())
        rows, cols = np.nonzero(ok[:, None] & np.isfinite(scan.p))
        p_parts.append(scan.p[rows, cols])
        owner_parts.append(s * 1_000_000 + rows)
        effect_parts.append(scan.effect[rows, cols])
    p = np.concatenate(p_parts) if p_parts else np.zeros(0)
    owners = np.concatenate(owner_parts) if owner_parts else np.zeros(0, dtype=np.int64)
    effect = np.concatenate(effect_parts) if effect_parts else np.zeros(0)
    q = np.asarray(benjamini_hochberg(p.tolist())) if len(p) else np.zeros(0)
    significant = (q < settings.alpha) & (np.abs(effect) >= settings.min_effect)
    # among overlapping conditions of one attribute (cuts of one number), the best is the most
    # significant one, as a regression tree's split: summed -log10 p over the measures that pass.
    # Summed effect sizes would drift to the most extreme cut (a purer but much smaller group).
    strength: dict[int, float] = {}
    evidence = -np.log10(np.maximum(p, 1e-300))
    for owner, e in zip(owners[significant], evidence[significant]):
        strength[int(owner)] = strength.get(int(owner), 0.0) + float(e)
    candidates = []
    by_scan: dict[int, list[int]] = {}
    for owner in strength:
        by_scan.setdefault(owner // 1_000_000, []).append(owner % 1_000_000)
    for s, picked in sorted(by_scan.items()):
        attribute, scan, *rest = scans[s]
        conditions = [scan.conditions[i] for i in picked]
        # a range must be clearly stronger than a threshold to be preferred: one cut reads simpler than two
        order = sorted(
            range(len(picked)),
            key=lambda k: (
                -round(strength[s * 1_000_000 + picked[k]] * (RANGE_PENALTY if conditions[k].is_range else 1.0), 6),
                conditions[k].size,
            ),
        )
        kept: list[Condition] = []
        counts = np.concatenate([[0], np.cumsum(np.bincount(attribute.codes, minlength=attribute.n_bins))])
        for k in order:
            c = conditions[k]
            if any(_interval_jaccard(c, other, counts) > 0.5 for other in kept):
                continue
            kept.append(c)
            mask = pd.Series((attribute.codes >= c.low) & (attribute.codes < c.high), index=index)
            candidates.append(
                Candidate(
                    "split" if rest else "new",
                    [rest[0]] if rest else [],
                    c.text,
                    [c.text],
                    mask,
                    extra={"condition": c, "owner": s * 1_000_000 + picked[k], "note": c.note},
                )
            )
            if len(kept) == per_attribute:
                break
    return candidates, Family(p, owners, tested)


def _interval_jaccard(a, b, counts: np.ndarray) -> float:
    inter = max(0, min(a.high, b.high) - max(a.low, b.low))
    shared = counts[max(a.low, b.low) + inter] - counts[max(a.low, b.low)] if inter else 0
    union = a.size + b.size - shared
    return float(shared / union) if union else 0.0


def _adjust_in_family(candidates: list[Candidate], family: Family) -> int:
    """BH over the whole family, with each candidate's exact comparisons in place of its scanned ones.

    The scan and the exact test are the same test; this keeps every condition the scan evaluated in
    the family (choosing the best cut among many is paid for here), while the figures reported are
    the exact ones. Returns the number of comparisons in the family.
    """
    owned = {cand.extra["owner"] for cand in candidates}
    others = family.p_values[~np.isin(family.owners, list(owned))] if len(family.owners) else family.p_values
    exact = [c for cand in candidates for c in cand.comparisons]
    adjusted = benjamini_hochberg([c.p_value for c in exact] + others.tolist())
    for c, q in zip(exact, adjusted):
        c.p_adjusted = q
    return len(adjusted)


def _significant(comparisons: list[Comparison], settings) -> list[Comparison]:
    return [c for c in comparisons if c.p_adjusted < settings.alpha and abs(c.effect) >= settings.min_effect]


def _strength(c: Candidate, settings) -> float:
    return sum(abs(x.effect) for x in _significant(c.comparisons, settings))


def _stop_weak(cand: Candidate, settings, stopped: list[dict]) -> bool:
    """True when the candidate has no significant effect large enough; records why if it came close."""
    if _significant(cand.comparisons, settings):
        return False
    near = [c for c in cand.comparisons if c.p_adjusted < settings.alpha]
    if near:
        best = max(near, key=lambda c: abs(c.effect))
        stopped.append(
            {
                "kind": cand.kind,
                "segments": cand.segments,
                "rule": cand.rule,
                "stopped_by": "minimum effect",
                "measure": best.measure,
                "effect": round(best.effect, 6),
                "detail": "",
            }
        )  # worded in propose(), which knows the topic labels
    return True


def _select_new(
    candidates: list[Candidate], settings, stopped: list[dict], measures, discovery, segments, *, tests: int
) -> list[Candidate]:
    chosen = []
    for cand in (c for c in candidates if c.kind == "new"):
        if _stop_weak(cand, settings, stopped):
            continue
        support = set()
        for comp in _significant(cand.comparisons, settings):
            for row in cand.extra["per_segment"].get(comp.measure, []):
                if np.sign(row["diff"]) == np.sign(comp.diff) and abs(row["effect"]) >= settings.min_effect / 2:
                    support.add(row["segment"])
        with_data = {row["segment"] for rows in cand.extra["per_segment"].values() for row in rows}
        needed = max(2, math.ceil(len(with_data) / 2))
        cand.extra["supporting_segments"] = sorted(support)
        if len(support) < needed:
            stopped.append(
                {
                    "kind": "new",
                    "segments": sorted(support),
                    "rule": cand.rule,
                    "stopped_by": "not shared across segments",
                    "detail": f"holds in {len(support)} of {len(with_data)} segments; a NEW segment needs {needed}",
                }
            )
            continue
        if not _not_one_segment(cand, settings, measures, discovery, segments):
            stopped.append(
                {
                    "kind": "new",
                    "segments": sorted(support),
                    "rule": cand.rule,
                    "stopped_by": "driven by one segment",
                    "detail": "the difference disappears without its strongest segment (a split, if anything)",
                }
            )
            continue
        cand.segments = sorted(support)
        chosen.append(cand)
    # strongest first; between equally strong complements (north vs not north) the smaller group is the subgroup
    chosen.sort(key=lambda c: _rank_key(c, settings))
    kept: list[Candidate] = []
    for cand in chosen:
        if any(_overlap(cand.mask, k.mask) > 0.5 for k in kept):
            continue
        if kept and not _holds_without(cand, kept, measures, discovery, segments, settings, tests):
            stopped.append(
                {
                    "kind": "new",
                    "segments": cand.segments,
                    "rule": cand.rule,
                    "stopped_by": "explained by a stronger proposal",
                    "detail": "no difference left once the customers of "
                    + ", ".join(k.rule for k in kept)
                    + " are set aside",
                }
            )
            continue
        kept.append(cand)
    return kept


def _not_one_segment(cand: Candidate, settings, measures, discovery, segments) -> bool:
    """Leave-one-segment-out: a NEW segment's lead difference must hold without its strongest segment."""
    lead = max(_significant(cand.comparisons, settings), key=lambda c: abs(c.effect))
    rows = cand.extra["per_segment"].get(lead.measure, [])
    if not rows:
        return False
    strongest = max(rows, key=lambda r: r["effect"] * np.sign(lead.diff))["segment"]
    found, _ = measure_stratified(measures, cand.mask, discovery & (segments != strongest))
    again = next((c for c in found if c.measure == lead.measure), None)
    return again is not None and again.p_value < settings.alpha and np.sign(again.diff) == np.sign(lead.diff)


def _holds_without(cand: Candidate, kept: list[Candidate], measures, universe, segments, settings, tests: int) -> bool:
    """Does the candidate still differ once the customers of stronger proposals are set aside?

    Without this, "region == east" looks different only because the rest it is compared with
    holds the north customers of a stronger NEW proposal.
    """
    for k in kept:
        universe = universe & ~k.mask
    found, _ = measure_stratified(measures, cand.mask, universe)
    threshold = settings.alpha / max(tests, 1)
    return any(c.p_value < threshold and abs(c.effect) >= settings.min_effect for c in found)


def _overlap(a: pd.Series, b: pd.Series) -> float:
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else 0.0


def _lean(c: Candidate, settings) -> float:
    """How much more the group talks about its most distinctive topic (positive: the group mentions it more)."""
    topics = [x for x in _significant(c.comparisons, settings) if x.measure.startswith("topic_")]
    return max(topics, key=lambda x: abs(x.effect)).diff if topics else 0.0


def _rank_key(c: Candidate, settings):
    # strongest first; between equally strong complements (app vs web) the side that talks about the
    # distinctive topic is the subgroup, then the smaller side
    return (-round(_strength(c, settings), 6), -_lean(c, settings), int(c.mask.sum()), c.rule)


def _select_splits(candidates, settings, stopped, measures, discovery, attributes) -> list[Candidate]:
    chosen = []
    by_segment: dict[str, list[Candidate]] = {}
    for cand in candidates:
        by_segment.setdefault(cand.segments[0], []).append(cand)
    for _segment, options in sorted(by_segment.items()):
        strong = [c for c in options if not _stop_weak(c, settings, [])]
        if not strong:
            weak = [c for c in options if any(x.p_adjusted < settings.alpha for x in c.comparisons)]
            if weak:
                _stop_weak(
                    max(weak, key=lambda c: max(abs(x.effect) for x in c.comparisons if x.p_adjusted < settings.alpha)),
                    settings,
                    stopped,
                )
            continue
        best = min(strong, key=lambda c: _rank_key(c, settings))
        # a second term is kept only when it strengthens the split on discovery data
        if settings.max_rule_terms >= 2:
            best = _refine_split(best, attributes, settings, measures, discovery)
        chosen.append(best)
    return chosen


def _refine_split(best: Candidate, attributes: list[Attribute], settings, measures, discovery) -> Candidate:
    """A second term on any other attribute (any type), kept when it makes the split clearly stronger.

    Every condition of every other attribute is scanned inside the first term's customers and, where the
    first term has a complement in the segment (`x >= c` for `x < c`, the other side of a flag), inside
    those too: a group defined by two attributes dilutes its effect over one side of the first cut, and
    the search may have kept the other side as the stronger half. The refinement is judged at Bonferroni
    thresholds over all conditions scanned on both sides (p x measures x conditions x sides), stricter
    than the first stage's BH, so a second term is added only when it is plainly real.
    """
    current = _strength(best, settings)
    sides = [best] + [c for c in [_complement_side(best, attributes)] if c is not None]
    trials = [_second_term(side, attributes, settings, measures, discovery, current, len(sides)) for side in sides]
    return max((t for t in trials if t is not None), key=lambda t: _strength(t, settings), default=best)


def _complement_side(best: Candidate, attributes: list[Attribute]) -> Candidate | None:
    """The split's first term turned round (`x >= c` for `x < c`; False for True), as a base for a second term."""
    cond = best.extra["condition"]
    attribute = next((a for a in attributes if a.column == cond.column), None)
    suffix = " and " + best.terms[0]
    if attribute is None or cond.is_range or len(best.terms) != 1 or not best.rule.endswith(suffix):
        return None
    # the other side: the condition next to this one that holds every other customer with a value
    # (the missing bin, the last one, is on neither side; empty bins may lie between)
    counts = np.concatenate([[0], np.cumsum(np.bincount(attribute.codes, minlength=attribute.n_bins))])
    filled = counts[attribute.n_bins - 1]
    others = [
        c
        for c in attribute.conditions
        if (c.low >= cond.high or c.high <= cond.low)
        and c.high <= attribute.n_bins - 1
        and (counts[c.high] - counts[c.low]) + (counts[cond.high] - counts[cond.low]) == filled
    ]
    if not others:
        return None
    other = others[0]
    inside = (attribute.codes >= other.low) & (attribute.codes < other.high)
    mask = best.extra["segment_mask"] & pd.Series(inside, index=best.mask.index)
    base = best.rule[: -len(suffix)]
    extra = dict(best.extra, condition=other, note=other.note)
    return Candidate("split", best.segments, conjunction(base, other.text), [other.text], mask, extra=extra)


def _second_term(base: Candidate, attributes, settings, measures, discovery, current: float, sides: int):
    """The split `base` and a second term, when that is clearly stronger than `current`; else None."""
    in_segment = base.extra["segment_mask"] & base.extra["outside"]
    universe = _flags(discovery & in_segment)
    first = _flags(base.mask)
    group_rows = universe & first
    first_column = base.extra["condition"].column
    min_resp = max(5, int(round(settings.min_respondents * (1 - settings.holdout_fraction))))
    scans = []
    for attribute in attributes:
        if attribute.column == first_column:
            continue
        inside = np.concatenate([[0], np.cumsum(np.bincount(attribute.codes[first], minlength=attribute.n_bins))])
        usable = [c for c in attribute.conditions if inside[c.high] - inside[c.low] >= settings.min_segment_size]
        if usable:
            scans.append((attribute, scan_within(measures, attribute, group_rows, universe, usable)))
    tests = sides * sum(len(scan.conditions) for _, scan in scans)
    # among the conditions clearly stronger than the split alone, the most significant one (summed -log10 p
    # over the measures that pass), as the first term's cut is chosen: the largest effect would drift to
    # the most extreme cut, a purer but smaller group than the one there is
    pick, pick_evidence = None, 0.0
    for attribute, scan in scans:
        adjusted = np.minimum(1.0, scan.p * len(scan.measures) * tests)
        significant = (adjusted < settings.alpha) & (np.abs(scan.effect) >= settings.min_effect)
        strength = np.where(significant, np.abs(scan.effect), 0.0).sum(axis=1)
        evidence = np.where(significant, -np.log10(np.maximum(np.nan_to_num(scan.p, nan=1.0), 1e-300)), 0.0).sum(axis=1)
        evidence[(scan.respondents_group < min_resp) | (scan.respondents_rest < min_resp)] = 0.0
        evidence[strength <= 1.25 * current] = 0.0
        if len(evidence) and evidence.max() > pick_evidence:
            i = int(np.argmax(evidence))
            pick, pick_evidence = (attribute, scan.conditions[i]), float(evidence[i])
    if pick is None:
        return None
    attribute, cond = pick
    mask = base.mask & pd.Series((attribute.codes >= cond.low) & (attribute.codes < cond.high), index=base.mask.index)
    # the second term must divide the first term's customers, as a tree's split must divide its node:
    # a subset of a real group often looks stronger by chance (the extremes of a noisy group)
    divided = measure_group(measures, discovery & mask & in_segment, discovery & base.mask & ~mask & in_segment)
    if not any(
        min(1.0, c.p_value * max(len(divided), 1) * tests) < settings.alpha and abs(c.effect) >= settings.min_effect
        for c in divided
    ):
        return None
    found = measure_group(measures, discovery & mask & in_segment, discovery & in_segment & ~mask)
    for c in found:
        c.p_adjusted = min(1.0, c.p_value * max(len(found), 1) * tests)
    trial = Candidate(
        "split",
        base.segments,
        conjunction(base.rule, cond.text),
        base.terms + [cond.text],
        mask,
        found,
        extra=dict(base.extra, note="; ".join(n for n in (base.extra.get("note"), cond.note) if n)),
    )
    return trial if _strength(trial, settings) > 1.25 * current else None


def _measure_record(
    name: str, role: str, a: np.ndarray, b: np.ndarray, margin: float, binary: bool, power: float = ENOUGH_POWER
) -> dict:
    """One measure of a merge: its TOST within ``margin`` pooled SDs, or why it was not compared (with its n).

    ``power``: the margin in standard errors a measure needs to be compared (`_power` of the level it is
    tested at: two identical segments shown equivalent with 80% probability).

    A measure too thin to show equivalence carries its difference test's ``p_value``; whether it stops
    the merge is decided once, over all the pair's comments (`_thin_differences`)."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    n = [len(a), len(b)]
    base = {"measure": name, "role": role, "n": n}
    if not n[0] and not n[1]:
        return dict(base, compared=False, reason="all missing")
    values = np.concatenate([a, b])
    if values.min() == values.max():
        return dict(base, compared=False, reason=f"constant (all {values[0]:g})")
    if min(n) < MIN_ANSWERS or (binary and not _enough_events([(a, b)])):
        return dict(base, compared=False, reason=f"too thin (fewer than {MIN_ANSWERS} answers on a side)")
    p, c = tost(name, a, b, margin)
    if c is None:
        return dict(base, compared=False, reason="too thin")
    pooled = math.sqrt(((n[0] - 1) * a.var(ddof=1) + (n[1] - 1) * b.var(ddof=1)) / max(n[0] + n[1] - 2, 1))
    se = math.sqrt(a.var(ddof=1) / n[0] + b.var(ddof=1) / n[1])
    if se > 0 and margin * pooled / se < power:
        shown = compare(name, a, b, binary=binary)
        record = dict(base, compared=False, reason="too thin to show equivalence at the margin")
        if shown is not None:
            record.update(diff=shown.diff, p_value=shown.p_value, kind=shown.kind)
        return record
    return dict(
        base,
        compared=True,
        kind=c.kind,
        diff=c.diff,
        ci_low=c.ci_low,
        ci_high=c.ci_high,
        effect=c.effect,
        margin=margin * pooled,
        p_equivalence=p,
    )


def _topic_mix_record(
    measures: Measures, a: np.ndarray, b: np.ndarray, seed: int, names, level: float = 0.05, resamples: int = BOOTSTRAP
) -> dict:
    """Topic mix: total variation distance between the two groups' topic distributions (share of topic
    mentions that would have to move), equivalent when its (basic) bootstrap upper bound lies under
    TOPIC_MIX_MARGIN. At the child level (the topics); when that is too thin and the run has parent themes,
    at the parent level: the record's ``level`` says which, and a thin child level is kept as ``child``."""
    record = _mix_at_level(measures, "child", a, b, seed, names, level, resamples)
    if (
        record["compared"]
        or not record["reason"].startswith("too thin for")
        or _mix_columns(measures, "parent") is None
    ):
        return record
    parent = _mix_at_level(measures, "parent", a, b, seed, names, level, resamples)
    parent["child"] = {k: record[k] for k in ("n", "reason") if k in record}
    return parent


def _mix_columns(measures: Measures, level: str) -> tuple[np.ndarray, int] | None:
    """The 0/1 mentions at a level over the respondents' rows, and how many columns (None: no such level)."""
    if level == "parent":
        if measures.parents is None:
            return None
        frame = measures.parents
    else:
        topics = [c for c in measures.respondent.columns if c.startswith("topic_")]
        if not topics:
            return None
        frame = measures.respondent[topics]
    return frame.to_numpy(dtype=float, na_value=0.0), frame.shape[1]


def _mix_at_level(
    measures: Measures,
    level: str,
    a: np.ndarray,
    b: np.ndarray,
    seed: int,
    names,
    alpha: float = 0.05,
    resamples: int = BOOTSTRAP,
) -> dict:
    """The topic-mix record at one level (child: the topics; parent: the parent themes), its bound tested at
    ``alpha`` with ``resamples`` bootstrap resamples (the noise floors scaled by the power that level needs)."""
    base = {"measure": "topic_mix", "role": "feedback", "level": TOPIC_LEVEL if level == "child" else PARENT_LEVEL}
    columns = _mix_columns(measures, level)
    if columns is None:
        return dict(base, n=[0, 0], compared=False, reason="no topics")
    groups = _topic_groups(measures, columns[0], a, b)
    n = [len(g) for g in groups]
    if min(n) < MIN_ANSWERS:
        return dict(base, n=n, compared=False, reason=f"too thin (fewer than {MIN_ANSWERS} comments with a topic)")
    salt = "topic-mix" if level == "child" else "topic-mix-parent"
    rng = np.random.default_rng(int(_stable_hash(seed, salt, *names) * 2**32))
    # the distance two samples of one mix show at these sizes (E|N(0, s)| = 0.8 s per topic): too thin, no bootstrap
    pooled = np.vstack(groups).sum(0) / np.vstack(groups).sum()
    floor = 0.5 * float(np.sum(0.8 * np.sqrt(pooled * (1 - pooled) * (1 / n[0] + 1 / n[1]))))
    if floor > (TOPIC_MIX_MARGIN / 2 if level == "child" else PARENT_MIX_FLOOR) * ENOUGH_POWER / _power(alpha):
        what = f"{columns[1]} topics" if level == "child" else f"{columns[1]} parent themes"
        record = dict(base, n=n, compared=False, reason=f"too thin for {what} (noise {floor:.2f})")
        totals = [g.sum(0) for g in groups]
        observed = 0.5 * float(np.abs(totals[0] / totals[0].sum() - totals[1] / totals[1].sum()).sum())
        record.update(diff=observed, p_value=_topic_mix_difference(groups, rng), kind="distance")
        return record
    shares = []
    for g in groups:  # bootstrap over the distinct mention patterns: memory grows with patterns, not respondents
        patterns, counts = np.unique(g, axis=0, return_counts=True)
        totals = [counts @ patterns]
        for start in range(0, resamples, BOOTSTRAP):  # in chunks: a small alpha needs many resamples
            draws = rng.multinomial(len(g), counts / counts.sum(), size=min(BOOTSTRAP, resamples - start))
            totals.append(draws @ patterns)
        stacked = np.vstack(totals).astype(float)
        shares.append(stacked / stacked.sum(1, keepdims=True))
    distance = 0.5 * np.abs(shares[0] - shares[1]).sum(1)
    # a plug-in distance runs high on samples (two draws of one mix are never identical): the basic
    # bootstrap bound, 2 x observed - resampled, removes that bias to first order
    boot = 2 * distance[0] - distance[1:]
    return dict(
        base,
        n=n,
        compared=True,
        kind="distance",
        diff=float(distance[0]),
        ci_high=float(np.quantile(boot, 1 - alpha)),
        margin=TOPIC_MIX_MARGIN,
        p_equivalence=float((1 + np.sum(boot >= TOPIC_MIX_MARGIN)) / (resamples + 1)),
    )


def _topic_groups(measures: Measures, mentions: np.ndarray, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """The mentions (0/1 per topic or parent, over the respondents' rows) of each side's respondents who mention one."""
    rows = measures.resp_rows
    return [m[m.sum(1) > 0] for m in (mentions[a[rows]], mentions[b[rows]])]


def _thin_differences(measures: Measures, a, b, thin: set[str], seed: int, names) -> list[dict]:
    """The measures too thin to compare, tested for a difference over all the pair's comments: one that shows
    (p < 0.05, uncorrected: any difference a reader would call significant) stops the merge. Only ever a
    blocker, so it cannot make a merge easier to confirm. (Bonferroni over the thin measures, as in 0.3, let
    through merges of segments whose scores differ at p = 0.03 once every pair was tested: docs/benchmarks.md.)"""
    fa, fb = _flags(a), _flags(b)
    found = []
    for name, values, over_respondents in measures.columns:
        if name not in thin:
            continue
        ga, gb = (fa[measures.resp_rows], fb[measures.resp_rows]) if over_respondents else (fa, fb)
        x, y = values[ga], values[gb]
        x, y = x[np.isfinite(x)], y[np.isfinite(y)]
        if measures.binary[name] and not _enough_events([(x, y)]):
            continue
        c = compare(name, x, y, binary=measures.binary[name])
        if c is not None:
            found.append({"measure": name, "diff": c.diff, "p_value": c.p_value, "n": [len(x), len(y)]})
    # the topic mix at the child level, whether or not the parent level could be compared: the parent level
    # only adds a measure to pass, never takes this check away
    columns = _mix_columns(measures, "child")
    if "topic_mix" in thin and columns is not None:
        groups = _topic_groups(measures, columns[0], fa, fb)
        if min(len(g) for g in groups) >= MIN_ANSWERS:
            rng = np.random.default_rng(int(_stable_hash(seed, "topic-mix-all", *names) * 2**32))
            found.append(
                {"measure": "topic_mix", "p_value": _topic_mix_difference(groups, rng), "n": [len(g) for g in groups]}
            )
    return [r for r in found if r["p_value"] < 0.05]


def _thin(tests: dict | None) -> set[str]:
    """The measures too thin to compare on the holdout; the topic mix whenever its child level was (even
    where the parent level could be compared in its place)."""
    tests = tests or {}
    thin = {r["measure"] for r in tests.get("not_compared", []) if r["reason"].startswith("too thin")}
    if any(r["measure"] == "topic_mix" and "child" in r for r in tests.get("tost", [])):
        thin.add("topic_mix")
    return thin


def _topic_mix_difference(groups: list[np.ndarray], rng) -> float:
    """Permutation p-value for a difference in topic mix (total variation distance, respondents relabelled)."""
    mentions = np.vstack(groups)
    labels = np.r_[np.ones(len(groups[0])), np.zeros(len(groups[1]))]
    # every relabelling drawn at once (Generator.permuted shuffles each row): one matrix product for all of them
    perms = np.vstack([labels, rng.permuted(np.tile(labels, (PERMUTATIONS, 1)), axis=1)])
    first = perms @ mentions
    second = mentions.sum(0) - first
    tv = 0.5 * np.abs(first / first.sum(1, keepdims=True) - second / second.sum(1, keepdims=True)).sum(1)
    return float(np.mean(tv >= tv[0] - 1e-12))


def _power(level: float) -> float:
    """The margin, in standard errors, that shows two identical segments equivalent with 80% probability
    when the test runs at ``level``: z(1 - level) + z(0.90) (ENOUGH_POWER at 0.05)."""
    return float(norm.isf(level)) + 1.2816


def _resamples(level: float) -> int:
    """Bootstrap resamples for a bound tested at ``level``: BOOTSTRAP, or enough for p-values ten times
    finer than the level (a p-value is at least 1 / (resamples + 1))."""
    return max(BOOTSTRAP, math.ceil(10 / level) - 1)


def _merge_tests(
    measures: Measures,
    a: pd.Series,
    b: pd.Series,
    margin: float,
    seed: int,
    names,
    level: float = 0.05,
    alpha: float = 0.05,
) -> dict | None:
    """Every measure of a merge: each varying outcome and each feedback measure (score, mean sentiment,
    negative share, topic mix) tested for equivalence, or listed as not compared with its n. A measure is
    compared where it has the answers to pass at ``level`` (the Holm family's first level). The topic mix's
    bootstrap takes the resamples ``level`` needs only where every other compared measure passed at
    ``alpha``: elsewhere the pair's p is at least ``alpha`` whatever the mix shows, and 999 resamples do.

    ``p`` is the intersection-union p-value, the largest over the compared measures: the merge holds only
    if every one is equivalent, so no correction across the measures is needed. Without a compared
    outcome there is no evidence they do the same things: ``p`` is 1 and ``why_not`` says so."""
    ra, rb = _respondent_counts(measures, a, b)
    if ra < MIN_ANSWERS or rb < MIN_ANSWERS:
        return None
    fa, fb = _flags(a), _flags(b)
    records = []
    for name, values, over_respondents in measures.columns:
        if name.startswith("topic_"):
            continue
        if over_respondents:
            ga, gb = fa[measures.resp_rows], fb[measures.resp_rows]
        else:
            ga, gb = fa, fb
        role = "feedback" if over_respondents else "outcome"
        records.append(
            _measure_record(name, role, values[ga], values[gb], margin, measures.binary[name], _power(level))
        )
    passed = [r for r in records if r["compared"]]
    undecided = any(r["role"] == "outcome" for r in passed) and all(r["p_equivalence"] < alpha for r in passed)
    resamples = _resamples(level) if undecided else BOOTSTRAP
    records.append(_topic_mix_record(measures, fa, fb, seed, names, level, resamples))
    compared = [r for r in records if r["compared"]]
    out: dict[str, Any] = {
        "tost": compared,
        "tost_p": [r["p_equivalence"] for r in compared],
        "not_compared": [{k: v for k, v in r.items() if k != "compared"} for r in records if not r["compared"]],
    }
    if not any(r["role"] == "outcome" for r in compared):
        out["p"] = 1.0
        out["why_not"] = "no outcome varies with enough answers: nothing shows they do the same things"
    else:
        out["p"] = max(out["tost_p"])
    return out


def _small_segment_merges(customers, segments, measures, settings, chosen) -> list[Candidate]:
    out = []
    sizes = segments.value_counts()
    merged = {s for c in chosen if c.kind == "merge" for s in c.segments}
    profile = pd.concat([measures.over_customers("sentiment"), measures.outcomes], axis=1)
    standardized = (profile - profile.mean()) / profile.std(ddof=0).replace(0, 1)
    centres = standardized.groupby(segments).mean()
    for small in sorted(sizes[sizes < settings.min_segment_size].index):
        if small in merged:
            continue
        others = centres.drop(index=small)
        if others.empty:
            continue
        distance = ((others - centres.loc[small]) ** 2).sum(axis=1)
        nearest = str(distance.idxmin())
        out.append(
            Candidate(
                "merge",
                sorted([small, nearest]),
                condition(segments.name, "in", sorted([small, nearest])),
                [],
                segments.isin([small, nearest]),
                [],
                extra={"reason": "below minimum size", "size": int(sizes[small]), "distance": float(distance.min())},
            )
        )
    return out


def _confirm(chosen: list[Candidate], measures, holdout, segments, settings, seed) -> None:
    """Re-test each NEW and SPLIT candidate on the holdout, with BH across the candidates. A merge was decided
    in its own family (`_search_merges`); a merge for size is a size fact, never confirmed."""
    holdout_p = []
    for cand in chosen:
        if cand.kind == "merge":
            if cand.extra.get("reason") == "below minimum size":
                cand.extra.update(confirmed=False, status=TOO_SMALL)
            continue
        holdout_p.append(_holdout_p(cand, measures, holdout, settings, np.random.default_rng(seed + 2)))
    adjusted = iter(benjamini_hochberg(holdout_p))
    for cand in chosen:
        if cand.kind == "merge":
            continue
        q = float(next(adjusted))
        cand.extra["holdout_q"] = q
        cand.extra["confirmed"] = bool(q < settings.alpha)


def _lead(primary: list[Comparison]) -> Comparison:
    """The one measure a candidate is confirmed on, chosen on discovery: the most significant one (the
    one the holdout, a smaller sample of the same customers, is likeliest to show), then the largest."""
    return min(primary, key=lambda c: (c.p_value, -abs(c.effect)))


def _holdout_p(cand: Candidate, measures: Measures, holdout, settings, rng: np.random.Generator) -> float:
    """The holdout p-value that confirms a NEW or SPLIT candidate: one test, of its lead measure, one-sided
    in the direction discovery found. A 0/1 measure too thin for the z-test (the scan's rule: 10 answers of
    each kind, 5 expected a side) is tested exactly: Fisher's test (split), a permutation within segments (new).
    """
    primary = _significant(cand.comparisons, settings)
    groups = _holdout_groups(cand, holdout)
    if cand.kind == "new":
        found, _ = measure_stratified(measures, cand.mask, holdout)
    else:
        found = measure_group(measures, *groups)
    by_name = {c.measure: c for c in found}
    cand.holdout = [by_name[c.measure] for c in primary if c.measure in by_name]
    lead = _lead(primary)
    again = by_name.get(lead.measure)
    if again is not None:
        test, p = ("Mantel-Haenszel z" if cand.kind == "new" else again.kind + " test"), one_sided_p(again, lead.diff)
    elif measures.binary[lead.measure]:
        test, p = _exact_p(cand, measures, lead, groups, rng)
    else:
        test, p = "too few answers on the holdout", 1.0
    cand.extra["confirmed_by"] = {
        "measure": lead.measure,
        "direction": "higher" if lead.diff > 0 else "lower",
        "test": test,
        "p_one_sided": round(float(p), 8),
    }
    return float(p)


def _holdout_groups(cand: Candidate, holdout) -> tuple:
    """The holdout customers of the candidate's rule and the rest they are compared with."""
    if cand.kind == "new":
        return (holdout & cand.mask, holdout)
    outside = cand.extra["outside"]
    return (holdout & cand.mask & outside, holdout & cand.extra["segment_mask"] & ~cand.mask & outside)


def _exact_p(cand: Candidate, measures: Measures, lead: Comparison, groups: tuple, rng) -> tuple[str, float]:
    """Fisher's exact test (split) or a permutation within segments (new) of a thin 0/1 measure."""
    values = dict((name, (v, over)) for name, v, over in measures.columns)[lead.measure]
    g, rest = _flags(groups[0]), _flags(groups[1])
    if values[1]:  # a respondent measure: rows of the respondents only
        g, rest = g[measures.resp_rows], rest[measures.resp_rows]
    column = values[0]
    if cand.kind != "new":
        return "Fisher's exact test", fisher_one_sided(column[g], column[rest & ~g], lead.diff)
    codes = measures.segment_codes
    assert codes is not None
    codes = codes[measures.resp_rows] if values[1] else codes
    strata = [(column[g & (codes == k)], column[rest & ~g & (codes == k)]) for k in np.unique(codes[g])]
    return f"permutation within segments ({PERMUTATIONS})", stratified_permutation(strata, lead.diff, rng, PERMUTATIONS)


def _why_not(tests: dict | None, q: float, alpha: float) -> str:
    """Why a merge pair is not confirmed, in words."""
    if tests is None:
        return f"fewer than {MIN_ANSWERS} respondents on a side"
    if "why_not" in tests:
        return tests["why_not"]
    differ = [r for r in tests["tost"] if r["p_equivalence"] >= alpha]
    if differ:
        return "not shown equivalent: " + ", ".join(
            f"{r['measure']} (differs by {r['diff']:+.3g}, margin {r['margin']:.3g})" for r in differ
        )
    return f"every measure equivalent, but not after Holm's correction over the pairs (adjusted p = {q:.3g})"


def _proposal_id(kind: str, rule: str, segments: Sequence[str] = (), taken: Collection[str] = ()) -> str:
    """`kind-` and 6 hex digits of the rule, as ids have always been (decisions name them); should a different
    proposal already hold that id, a longer digest of kind, sorted segments and rule: no two ids are the same."""
    short = f"{kind}-{hashlib.sha256(rule.encode()).hexdigest()[:6]}"
    if short not in taken:
        return short
    digest = hashlib.sha256("\x00".join([kind, *sorted(segments), rule]).encode()).hexdigest()
    for size in (10, 16, 64):
        if f"{kind}-{digest[:size]}" not in taken:
            return f"{kind}-{digest[:size]}"
    raise AssertionError(f"proposal id collision for {kind} {rule!r}")


def _measure_label(name: str, topic_labels: dict[int, str]) -> str:
    if name.startswith("topic_"):
        return f"mentions '{topic_labels.get(int(name.split('_')[1]), name)}'"

    return {"sentiment": "mean sentiment", "negative": "share of negative comments", "score": "mean score"}.get(
        name, name
    )


def _feedback_rows(customers: pd.DataFrame, feedback: pd.DataFrame, config: RefineConfig) -> np.ndarray:
    """Per feedback row, the position of its customer in the customer table (-1: not there)."""
    return pd.Index(customers[config.customers.customer_id]).get_indexer(feedback[S.CUSTOMER_ID])


def _said_by(mask, feedback_rows: np.ndarray) -> np.ndarray:
    """Which feedback rows come from the customers a mask over the customer table selects."""
    selected = np.zeros(len(feedback_rows), dtype=bool)
    known = feedback_rows >= 0
    selected[known] = _flags(mask)[feedback_rows[known]]
    return selected


def _ranked_for_topic(pool: pd.DataFrame) -> pd.DataFrame:
    """One topic's comments in quoting order: a complaint topic by the comments most negative about
    it, a praise topic by the most positive (ties by feedback id).

    Both the direction and the order are read from what the comments' sentences in that topic say
    (S.TOPIC_SENTIMENT, from the run's sentence themes), else from the whole comments' scores.
    """
    key = S.TOPIC_SENTIMENT if S.TOPIC_SENTIMENT in pool.columns else S.SENTIMENT_SCORE
    negative_topic = bool(len(pool)) and float(pool[key].mean()) < 0
    return pool.sort_values([key, S.FEEDBACK_ID], ascending=[negative_topic, True])


def _merge_quotes(cand: Candidate, said: pd.DataFrame, k: int) -> pd.DataFrame | None:
    """For a merge: comments on the topic every merged segment raises most, taking turns between the segments."""
    if S.SEGMENT not in said.columns or len(cand.segments) < 2:
        return None
    with_topic = said[said[S.TOPIC_ID] >= 0]
    shares = [with_topic[with_topic[S.SEGMENT] == s][S.TOPIC_ID].value_counts(normalize=True) for s in cand.segments]
    common = pd.concat(shares, axis=1).fillna(0.0).min(axis=1)
    if common.empty or common.max() <= 0:
        return None
    topic = int(common.sort_index().idxmax())
    pool = _ranked_for_topic(with_topic[with_topic[S.TOPIC_ID] == topic])
    sides = [pool[pool[S.SEGMENT] == s] for s in cand.segments]
    turns = [side.iloc[[i]] for i in range(k) for side in sides if i < len(side)]
    return pd.concat(turns) if turns else None


def _quotes(cand: Candidate, feedback, said_by: np.ndarray, config, k: int = 3) -> list[str]:
    said = feedback[said_by]
    if cand.kind == "merge":
        pool = _merge_quotes(cand, said, k)
        if pool is not None:
            return _distinct_texts(pool, k)
    significant = _significant(cand.comparisons, config.proposals)
    lead = max(significant, key=lambda c: abs(c.effect), default=None)
    # a topic the group raises more often says why in their words, even when a score differs more
    # ("mean score -2.1" is led by its quotes about the crashing app, not by any angry comment)
    raised = [c for c in significant if c.measure.startswith("topic_") and c.diff > 0]
    if raised:
        lead = max(raised, key=lambda c: abs(c.effect))
    if lead is not None and lead.measure.startswith("topic_"):
        topic = int(lead.measure.split("_")[1])
        pool = _ranked_for_topic(said[said[S.TOPIC_ID] == topic])
    else:
        ascending = lead is None or lead.diff < 0
        pool = said.sort_values([S.SENTIMENT_SCORE, S.FEEDBACK_ID], ascending=[ascending, True])
    return _distinct_texts(pool, k)


def _distinct_texts(pool: pd.DataFrame, k: int) -> list[str]:
    """The first k distinct comments of the pool, each cut to 280 characters at a word."""
    quotes = []
    for text in pool[S.TEXT]:
        short = text if len(text) <= 280 else text[:277].rsplit(" ", 1)[0] + "..."
        if short not in quotes:
            quotes.append(short)
        if len(quotes) == k:
            break
    return quotes


def _precision_recall(cand: Candidate, measures: Measures) -> dict | None:
    """How well the rule recovers the feedback-defined subgroup (respondents showing the lead measure)."""
    lead = max(
        cand.comparisons, key=lambda c: abs(c.effect) if c.measure in measures.respondent.columns else -1, default=None
    )
    if lead is None or lead.measure not in measures.respondent.columns:
        return None
    universe = cand.extra.get("segment_mask", pd.Series(True, index=cand.mask.index))
    responded = pd.Series(measures.responded, index=universe.index) & universe
    values = measures.over_customers(lead.measure)[responded]
    if lead.measure == "sentiment":
        subgroup = (values < 0) if lead.diff < 0 else (values > 0)
    elif lead.measure == "score":  # scales differ: below / above the median respondent
        middle = values.median()
        subgroup = (values < middle) if lead.diff < 0 else (values > middle)
        cut = float(middle)
    else:
        subgroup = (values >= 0.5) if lead.diff > 0 else (values < 0.5)
    selected = cand.mask[responded]
    tp = int((selected & subgroup).sum())
    return {
        "measure": lead.measure,
        "precision": tp / max(int(selected.sum()), 1),
        **({"median": cut} if lead.measure == "score" else {}),
        "direction": "high" if lead.diff > 0 else "low",
        "recall": tp / max(int(subgroup.sum()), 1),
        "respondents": int(responded.sum()),
    }


def _merge_evidence(cand: Candidate, evidence: Evidence, settings) -> float:
    """Fill a MERGE's evidence (every measure compared or not, on all the pair's customers); returns its strength."""
    if cand.extra.get("reason") == "below minimum size":
        evidence.reason = (
            f"segment of {cand.extra['size']} customers is below the minimum of "
            f"{settings.min_segment_size}; nearest segment by sentiment and outcomes"
        )
        evidence.status = TOO_SMALL
        return 1.0
    t = cand.extra["tests"]
    h = cand.extra.get("holdout_tests") or {}
    evidence.status = cand.extra.get("status")
    evidence.equivalence = t["tost"]
    evidence.not_compared = h.get("not_compared", t["not_compared"])
    evidence.holdout = {  # the key of 0.3; since 0.4 a merge is tested on all customers, as `sample` says
        "sample": "all customers",
        "equivalence": h.get("tost", []),
        "not_compared": h.get("not_compared", []),
        "p_intersection_union": h.get("p"),
        **({"differs_over_all_comments": h["differs_over_all_comments"]} if "differs_over_all_comments" in h else {}),
        **({"pairs": h["pairs"]} if "pairs" in h else {}),  # a merge of three or more: every pair, as a whole
    }
    if cand.extra.get("group_note"):
        evidence.extra["group_note"] = cand.extra["group_note"]
    if cand.extra.get("why_not"):
        evidence.why_not = cand.extra["why_not"]
    q = cand.extra.get("holdout_q")
    return 1.0 - (1.0 if q is None else float(q))


def _subgroup_definition(pr: dict, topic_labels: dict[int, str]) -> str:
    """The feedback subgroup a rule is compared with, in words."""
    high = pr["direction"] == "high"
    if pr["measure"].startswith("topic_"):
        topic = topic_labels.get(int(pr["measure"].split("_")[1]), pr["measure"])
        return f"respondents who {'' if high else 'do not '}mention '{topic}'"

    if pr["measure"] == "score":
        return f"respondents scoring {'above' if high else 'below'} the median respondent's {pr['median']:g}"
    if pr["measure"] == "sentiment":
        return f"respondents whose comments read {'positive' if high else 'negative'}"
    return f"respondents whose {_measure_label(pr['measure'], topic_labels)} is {pr['direction']}"


def _difference_evidence(
    cand: Candidate, evidence: Evidence, measures: Measures, settings, topic_labels: dict[int, str]
) -> float:
    """Fill a NEW or SPLIT's evidence (differences on discovery and holdout, rule vs feedback subgroup)."""
    significant = sorted(_significant(cand.comparisons, settings), key=lambda c: -abs(c.effect))
    evidence.discovery = [dict(c.to_dict(), label=_measure_label(c.measure, topic_labels)) for c in significant]
    evidence.holdout = [dict(c.to_dict(), label=_measure_label(c.measure, topic_labels)) for c in cand.holdout]
    if cand.kind == "new":
        evidence.supporting_segments = cand.extra.get("supporting_segments", [])
    pr = _precision_recall(cand, measures)
    if pr:
        pr["definition"] = _subgroup_definition(pr, topic_labels)
        evidence.rule_vs_feedback_subgroup = pr
    return abs(significant[0].effect) if significant else 0.0


def _evidence(cand: Candidate, measures: Measures, settings, topic_labels: dict[int, str]) -> tuple[Evidence, float]:
    """A candidate's evidence and its strength (the effect its score grows with)."""
    evidence = Evidence()
    if cand.kind == "merge":
        effect = _merge_evidence(cand, evidence, settings)
    else:
        effect = _difference_evidence(cand, evidence, measures, settings, topic_labels)
    evidence.holdout_q = cand.extra.get("holdout_q")
    if "confirmed_by" in cand.extra:  # the one holdout test the candidate's holdout_q corrects
        evidence.extra["confirmed_by"] = cand.extra["confirmed_by"]
    if "outside" in cand.extra:  # customers of a confirmed NEW segment are tested (and assigned) there
        left_out = int((_flags(cand.mask) & ~_flags(cand.extra["outside"])).sum())
        if left_out:
            evidence.in_new_segments = left_out
    return evidence, effect


def _within_guardrails(described: list[Proposal], segment_count: int, settings, stopped: list[dict]) -> list[Proposal]:
    """The proposals kept in rank order under the maximum segment count and the maximum proposals."""
    count = segment_count
    kept: list[Proposal] = []
    for proposal in described:
        change = {"merge": -1, "split": 1, "new": 1}[proposal.kind]
        if count + change > settings.max_segments:
            stopped.append(
                {
                    "kind": proposal.kind,
                    "segments": proposal.segments,
                    "rule": proposal.rule,
                    "stopped_by": "maximum segments",
                    "detail": f"would make {count + change} segments (maximum {settings.max_segments})",
                }
            )
            continue
        if len(kept) >= settings.max_proposals:
            stopped.append(
                {
                    "kind": proposal.kind,
                    "segments": proposal.segments,
                    "rule": proposal.rule,
                    "stopped_by": "maximum proposals",
                    "detail": f"only {settings.max_proposals} are kept",
                }
            )
            continue
        count += change
        kept.append(proposal)
    return kept


def _rank_and_describe(
    chosen, customers, feedback, measures, settings, topic_labels, config, stopped
) -> list[Proposal]:
    """Each candidate as a Proposal with its evidence, ranked, kept under the guardrails, overlaps noted."""
    total = len(customers)
    described = []
    masks: dict[str, np.ndarray] = {}
    feedback_rows = _feedback_rows(customers, feedback, config)
    seen = set()
    for cand in chosen:
        same = (cand.kind, tuple(sorted(cand.segments)), cand.rule)
        if same in seen:  # the same proposal reached twice (a merge found from either side): one card, one id
            continue
        seen.add(same)
        proposal_id = _proposal_id(cand.kind, cand.rule, cand.segments, taken=masks)
        n_customers = int(cand.mask.sum())
        masks[proposal_id] = _flags(cand.mask)
        said_by = _said_by(cand.mask, feedback_rows)
        respondents = int((_flags(cand.mask) & measures.responded).sum())
        evidence, effect = _evidence(cand, measures, settings, topic_labels)
        impact = _expected_impact(cand, customers, measures, config)
        score_gap = _score_gap(cand, feedback, feedback_rows, config)
        confirmed = cand.extra.get("confirmed", False)
        score = round(effect * math.sqrt(n_customers / total) * (1.0 if confirmed else 0.5), 6)
        described.append(
            Proposal(
                id=proposal_id,
                kind=cand.kind,
                segments=cand.segments,
                rule=cand.rule,
                customers=n_customers,
                respondents=respondents,
                evidence=evidence,
                top_topics=_top_topics(feedback, said_by, topic_labels),
                quotes=_quotes(cand, feedback, said_by, config),
                expected_impact=impact,
                score_gap=score_gap,
                score=score,
                confirmed=bool(confirmed),
                rule_note=cand.extra.get("note") or "",
            )
        )
    described.sort(key=lambda p: (not p.confirmed, -p.score, p.id))
    # guardrail: the segment count after accepting proposals in rank order
    kept = _within_guardrails(described, customers[config.customers.segment].nunique(), settings, stopped)
    for rank, proposal in enumerate(kept, start=1):
        proposal.rank = rank
        proposal.overlaps = []
    for i, first in enumerate(kept):  # customers two proposals both claim (assignments settle who gets them)
        for second in kept[i + 1 :]:
            shared = int((masks[first.id] & masks[second.id]).sum())
            if shared:
                first.overlaps.append({"proposal": second.id, "rank": second.rank, "customers": shared})
                second.overlaps.append({"proposal": first.id, "rank": first.rank, "customers": shared})
    return kept


def _top_topics(feedback, said_by: np.ndarray, topic_labels, k: int = 3) -> list[dict]:
    with_topic = (feedback[S.TOPIC_ID] >= 0).to_numpy()
    said = feedback[said_by & with_topic]
    rest = feedback[~said_by & with_topic]
    if said.empty:
        return []
    share = said[S.TOPIC_ID].value_counts(normalize=True)
    other = rest[S.TOPIC_ID].value_counts(normalize=True) if len(rest) else pd.Series(dtype=float)
    rows = [
        {
            "topic_id": int(t),
            "label": topic_labels.get(int(t), str(t)),
            "share": float(s),
            "share_elsewhere": float(other.get(t, 0.0)),
        }
        for t, s in share.items()
    ]
    rows.sort(key=lambda r: (-(r["share"] - r["share_elsewhere"]), r["topic_id"]))
    return rows[:k]


def _expected_impact(cand: Candidate, customers, measures, config) -> list[dict]:
    """Per outcome: how the proposed segment differs from the customers it is compared with, and for how many."""
    out: list[dict] = []
    if cand.kind == "merge":
        return out
    rest = (cand.extra["segment_mask"] & ~cand.mask) if cand.kind == "split" else ~cand.mask
    n = int(cand.mask.sum())
    for outcome in measures.outcomes.columns:
        c = compare(
            outcome,
            measures.outcomes.loc[cand.mask, outcome].to_numpy(),
            measures.outcomes.loc[rest, outcome].to_numpy(),
            binary=measures.binary[outcome],
        )
        if c is None:
            continue
        out.append(
            {
                "outcome": outcome,
                "kind": c.kind,
                "segment_mean": c.group_value,
                "compared_mean": c.rest_value,
                "diff": c.diff,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
                "customers": n,
                "total_difference": c.diff * n,
            }
        )
    return out


def _score_gap(cand: Candidate, feedback: pd.DataFrame, feedback_rows: np.ndarray, config: RefineConfig) -> dict | None:
    """The feedback score of the rule's customers vs those they are compared with, as CX reports it.

    NPS as %promoters - %detractors (DOMAIN: variance (p + d - (p - d)^2) / n per side, the sides
    independent), CSAT as top-2-box share, any other score as its mean; over answers, like the
    segment table. Descriptive, over every customer the rule matches (no discovery / holdout split):
    the tests above are on the mean score per respondent.
    """
    if cand.kind == "merge" or S.SCORE not in feedback.columns:
        return None
    rest = (cand.extra["segment_mask"] & ~cand.mask) if cand.kind == "split" else ~cand.mask
    scores = feedback[S.SCORE].to_numpy(dtype=float)
    scored = np.isfinite(scores)
    a = scores[_said_by(cand.mask, feedback_rows) & scored]
    b = scores[_said_by(rest, feedback_rows) & scored]
    if len(a) < 2 or len(b) < 2:
        return None
    kind = config.feedback.score_kind
    if kind == "nps":
        (v1, lo1, hi1), (v2, lo2, hi2) = nps(a), nps(b)
        half = Z95 * math.hypot((hi1 - lo1) / (2 * Z95), (hi2 - lo2) / (2 * Z95))
        return {
            "measure": "NPS",
            "kind": "nps",
            "group_value": round(v1, 6),
            "rest_value": round(v2, 6),
            "diff": round(v1 - v2, 6),
            "ci_low": round(v1 - v2 - half, 6),
            "ci_high": round(v1 - v2 + half, 6),
            "n_group": len(a),
            "n_rest": len(b),
        }
    if kind == "csat":
        c = compare("CSAT (top-2-box)", a >= 4, b >= 4, binary=True)
    else:
        c = compare(f"mean {kind or 'score'}", a, b)
    return (
        None
        if c is None
        else {key: value for key, value in c.to_dict().items() if key not in ("p_value", "p_adjusted", "effect")}
    )


def precedence(kind: str | None, rank: int) -> tuple[int, int]:
    """Sort key, lowest precedence first: merges, then splits, then NEW segments; the higher rank last."""
    return ({"merge": 0, "split": 1, "new": 2}.get(str(kind), 0), -rank)


def proposed_assignments(
    customers: pd.DataFrame, proposals: list[dict] | list[Proposal], config: RefineConfig
) -> pd.DataFrame:
    """Customer id, current segment, and the segment each customer would have if every given proposal were accepted.

    Takes typed records, or proposals as proposals.json holds them (dicts, read into records first).
    The run folder's assignments.parquet is built from the confirmed proposals; ``refine assign`` and
    ``--previous`` from the accepted ones.

    A customer two proposals claim goes to a NEW segment first (the proposal search already tests
    merges and splits without the customers of a confirmed new segment), then to a SPLIT (the subgroup
    it carves out stays whole inside a merged segment, so no proposal is dropped), else to the
    higher-ranked proposal: proposals are applied lowest precedence first, so the last one to match wins.
    """
    cc = config.customers
    typed = [Proposal.from_json(p) if isinstance(p, dict) else p for p in proposals]
    current = customers[cc.segment].astype(str)
    proposed = current.copy()
    for proposal in sorted(typed, key=lambda p: precedence(p.kind, p.rank)):
        mask = apply_rule(customers, proposal.rule)
        if proposal.kind == "merge":
            proposed[mask & current.isin(proposal.segments)] = " + ".join(proposal.segments)
        elif proposal.kind == "split":
            proposed[mask] = f"{proposal.segments[0]} ({proposal.rule.split(' and ', 1)[-1]})"
        else:
            proposed[mask] = f"New: {proposal.rule}"
    return pd.DataFrame(
        {
            "customer_id": customers[cc.customer_id].astype(str).values,
            "current_segment": current.values,
            "proposed_segment": proposed.values,
        }
    )
