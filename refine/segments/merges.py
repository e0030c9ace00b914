"""Overlapping merges resolved into one stated segmentation: an n-way merge tested as a whole.

The merge search tests pairs. Two confirmed pairs that share a segment (Bronze-Gold and Gold-Platinum)
do not state a segmentation: accepting both would merge Gold twice. Confirmed pairs (every pair of
segments is tested on all customers, Holm over the pairs: refine.segments.propose._search_merges) are
grouped into connected components (segments joined by a confirmed pair), and a group of three or more
segments becomes ONE proposal, "merge Bronze, Gold and Platinum", tested as a whole.

Equivalence is not transitive (Bronze within the margin of Gold and Gold within the margin of Platinum
allows Bronze and Platinum up to twice the margin apart), so the group is tested over **every pair** in
it, each pair on every measure as a pairwise merge is (refine.segments.propose._merge_tests): an
intersection-union test over the pairs, whose p-value is the largest of the pairs' p-values, with no
correction across them. A pair of the merge family brings its Holm-adjusted p (the family's correction);
a pair outside the family (past its cap of pairs) is tested on its own here and brings its p: a level-alpha
test of each pair is all an intersection-union test needs.
The group is confirmed when the largest of these is under ``alpha``. Every pair inside the threshold
means no two of the merged segments differ by a margin's worth on any measure, which is what "one
segment" claims; testing each member against the pooled rest would let a large member hide a small
one's difference.

A group that fails as a whole falls back to the best disjoint pairs that pass (lowest q first, then the
closest): they stay confirmed, and each says the group was tried; an overlapping pair left out is not
confirmed (``extra["overlapped_by"]``: the proposal search lists it among the stopped candidates, not among the
proposals), and says which pair it overlaps and why the group failed.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from typing import Any

GROUP_TEST = (
    "confirmed merge pairs sharing a segment are one merge of their group (connected components), tested as a "
    "whole: an intersection-union test over every pair in the group (each pair on every measure, on all "
    "customers; a pair of the family brings its Holm-adjusted p, a pair outside it its own p; no further "
    "correction across the pairs), confirmed when the largest is under alpha; a group that fails falls back "
    "to the best disjoint pairs that pass"
)


def components(pairs: list[list[str]]) -> list[list[str]]:
    """Connected components of segments joined by pairs, each sorted, in the order of their first pair."""
    parent: dict[str, str] = {}

    def root(s: str) -> str:
        while parent.setdefault(s, s) != s:
            s = parent[s]
        return s

    for a, b in pairs:
        parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for a, b in pairs:
        for s in (a, b):
            members = groups.setdefault(root(s), [])
            if s not in members:
                members.append(s)
    return [sorted(g) for g in groups.values()]


def _pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _statistical(cand: Any) -> bool:
    return cand.kind == "merge" and cand.extra.get("reason") is None


def group_merges(
    candidates: list[Any],
    test_pair: Callable[[str, str], dict | None],
    make_group: Callable[[list[str], dict], Any],
    alpha: float,
) -> tuple[list[Any], list[dict]]:
    """Replace overlapping confirmed merge pairs by one merge per group, or by the best disjoint pairs.

    Args:
        candidates: the merge candidates after their tests (``extra``: confirmed, holdout_q (the Holm-adjusted
            p), holdout_tests, tests); merges for size are left as they are.
        test_pair: the tests of a pair that is not a candidate (``p``: its Holm-adjusted p when it is in the
            merge family, else its own intersection-union p).
        make_group: builds the candidate of a group from its segments and its ``extra``.
        alpha: the false-discovery rate a merge is confirmed at.

    Returns:
        The candidates (a confirmed group in place of its pairs), and one record per group tried
        (segments, the pairs with their p, the group's p, confirmed) for proposals.json ``method``.
    """
    confirmed = [c for c in candidates if _statistical(c) and c.extra.get("confirmed")]
    chosen = {_pair_key(*c.segments): c for c in candidates if _statistical(c)}
    out, records = list(candidates), []
    for group in components([c.segments for c in confirmed]):
        if len(group) < 3:
            continue
        members = [c for c in confirmed if set(c.segments) <= set(group)]
        pairs = []
        for a, b in combinations(group, 2):
            cand = chosen.get(_pair_key(a, b))
            if cand is not None:
                tests, p = cand.extra.get("holdout_tests"), float(cand.extra.get("holdout_q", 1.0))
            else:
                tests = test_pair(a, b)
                p = float(tests["p"]) if tests else 1.0
            pairs.append({"segments": [a, b], "p": p, "chosen": cand is not None, "tests": tests})
        worst = max(pairs, key=lambda r: r["p"])
        p_group = worst["p"]
        record = {
            "segments": group,
            "pairs": [{k: r[k] for k in ("segments", "p", "chosen")} for r in pairs],
            "p_intersection_union": p_group,
            "confirmed": p_group < alpha,
        }
        records.append(record)
        if p_group < alpha:
            first = min(members, key=_strength)
            extra = dict(
                first.extra,
                tests=first.extra["tests"],
                holdout_tests=dict(worst["tests"] or {}, pairs=record["pairs"], p=p_group),
                holdout_q=p_group,
                confirmed=True,
                status="confirmed",
                group=record["pairs"],
            )
            extra.pop("why_not", None)
            out = [c for c in out if not any(c is m for m in members)] + [make_group(group, extra)]
        else:
            _fall_back(members, worst, group)
    return out, records


def _strength(cand: Any) -> tuple[float, float, list[str]]:
    """The order of a group's pairs, strongest first: the corrected p, then the pair's own p (Holm's adjusted
    p-values tie often), then the names, so a tie never falls to the order the pairs were found in."""
    tests = cand.extra.get("tests") or {}
    return float(cand.extra.get("holdout_q", 1.0)), float(tests.get("p", 1.0)), list(cand.segments)


def _fall_back(members: list[Any], worst: dict, group: list[str]) -> None:
    """Keep the best disjoint pairs of a group that failed as a whole; mark the overlapping rest unconfirmed."""
    names = ", ".join(group[:-1]) + " and " + group[-1]
    why = _pair_why(worst)
    taken: set[str] = set()
    kept: dict[str, Any] = {}
    for cand in sorted(members, key=_strength):
        overlap = taken & set(cand.segments)
        if not overlap:
            taken |= set(cand.segments)
            kept.update({s: cand for s in cand.segments})
            cand.extra["group_note"] = f"{names} were tried as one merge and failed as a whole ({why}): kept as a pair"
            continue
        other = kept[sorted(overlap)[0]]
        cand.extra.update(
            confirmed=False,
            status="not confirmed",
            overlapped_by=list(other.segments),
            why_not=(
                f"overlaps the stronger merge of {' and '.join(other.segments)}, and {names} are not equivalent "
                f"as a whole ({why})"
            ),
        )


def _pair_why(pair: dict) -> str:
    a, b = pair["segments"]
    tests = pair["tests"] or {}
    if tests.get("why_not"):
        return f"{a} and {b}: {tests['why_not']}"
    return f"{a} and {b} not shown equivalent, p = {pair['p']:.3g}"
