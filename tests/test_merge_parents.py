"""Issues 29 and 31: the merge's topic mix at the parent level where the child level is too thin."""

import numpy as np
import pytest

from refine import schemas as S
from refine.report.render import _merge_measures
from refine.segments.profiles import parent_mentions
from refine.segments.propose import PARENT_LEVEL, PARENT_MIX_FLOOR, TOPIC_LEVEL
from tests.test_propose import company, run


def spread_over_children(feedback, seed: int, parent_mix: dict | None = None, parents: int = 4):
    """40 child themes under `parents` parent themes (4: the old topics; 2: topics 0-1 and 2-3), each comment
    on a random child of its parent; `parent_mix` (segment -> parent shares) redraws the parents of a segment."""
    rng = np.random.default_rng(seed)
    children = 40 // parents
    out = feedback.copy()
    parent = out[S.TOPIC_ID].to_numpy() * parents // 4
    for segment, shares in (parent_mix or {}).items():
        rows = np.flatnonzero(out[S.SEGMENT].to_numpy() == segment)
        parent[rows] = rng.choice(len(shares), size=len(rows), p=shares)
    out[S.TOPIC_PARENT_ID] = parent
    out[S.TOPIC_PARENT_LABEL] = [f"parent {p}" for p in parent]
    out[S.TOPIC_ID] = parent * children + rng.integers(0, children, len(out))
    return out


def test_parent_mentions_are_one_row_per_respondent_and_none_without_parents():
    _customers, feedback, _config = company(0, planted=True, n=2000)
    assert parent_mentions(feedback) is None  # no themes stage, no parents
    table = parent_mentions(spread_over_children(feedback, 0))
    assert list(table.columns) == [f"parent_{p}" for p in range(4)]
    assert list(parent_mentions(spread_over_children(feedback, 0, parents=2)).columns) == ["parent_0", "parent_1"]
    assert table.index.is_unique and len(table) == feedback[S.CUSTOMER_ID].nunique()
    assert set(np.unique(table.to_numpy())) <= {0.0, 1.0} and (table.sum(axis=1) >= 1).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_a_topic_mix_too_thin_over_40_themes_is_compared_over_their_parents(seed):
    customers, feedback, config = company(seed, planted=True, n=12000)
    # two parents: about 480 holdout comments a side show them alike with 80% probability (4 would need 600)
    feedback = spread_over_children(feedback, seed, parents=2)
    labels = {t: f"theme {t}" for t in range(40)}
    result = run(customers, feedback, config, seed, labels=labels)
    merge = next(p for p in result.proposals if p["kind"] == "merge" and p["confirmed"])
    assert merge["segments"] == ["B", "C"]
    mix = next(e for e in merge["evidence"]["holdout"]["equivalence"] if e["measure"] == "topic_mix")
    assert mix["level"] == PARENT_LEVEL and mix["ci_high"] < mix["margin"] == 0.15
    assert mix["child"]["reason"].startswith("too thin for 40 topics")
    assert PARENT_MIX_FLOOR < 0.05  # the child level was tried first
    assert "parent themes" in result.method["families"]["merge"]["margins"]["topic_level"]
    assert "parent themes" in result.method["correction"]
    card = _merge_measures(next(p for p in result.result.proposals if p.kind == "merge" and p.confirmed).evidence)
    assert "topic mix over the parent themes" in card and "they say the same things" in card


@pytest.mark.parametrize("seed", [0, 1])
def test_segments_whose_comments_differ_over_the_parents_are_not_merged(seed):
    # C talks of the second parent 70% of the time, B 40%; over 40 child themes each share is too thin to show it
    customers, feedback, config = company(seed, planted=True, n=12000)
    mix = {"B": [0.6, 0.4], "C": [0.3, 0.7]}
    labels = {t: f"theme {t}" for t in range(40)}
    result = run(customers, spread_over_children(feedback, seed, mix, parents=2), config, seed, labels=labels)
    assert not any(p["confirmed"] and set(p["segments"]) == {"B", "C"} for p in result.proposals)
    # (with the same parents they are merged: the test above)


def test_without_parent_themes_the_mix_stays_at_the_child_level():
    customers, feedback, config = company(0, planted=True, n=12000)
    result = run(customers, feedback, config, 0)
    merge = next(p for p in result.proposals if p["kind"] == "merge" and p["confirmed"])
    mix = next(e for e in merge["evidence"]["holdout"]["equivalence"] if e["measure"] == "topic_mix")
    assert mix["level"] == TOPIC_LEVEL and "child" not in mix


def test_the_child_level_difference_check_stays_where_the_parents_are_compared():
    # B and C mention the two parents alike, but C only ever names 4 of each parent's 20 child themes: the parent
    # level shows them alike, and the child level, too thin to compare on the holdout, shows the difference over
    # all their comments, which stops the merge as it did before parents were compared
    customers, feedback, config = company(0, planted=True, n=12000)
    spread = spread_over_children(feedback, 0, parents=2)
    c = (spread[S.SEGMENT] == "C").to_numpy()
    spread.loc[c, S.TOPIC_ID] = spread.loc[c, S.TOPIC_PARENT_ID] * 20 + np.arange(int(c.sum())) % 4
    labels = {t: f"theme {t}" for t in range(40)}
    result = run(customers, spread, config, 0, labels=labels)
    assert not any(p["confirmed"] and set(p["segments"]) == {"B", "C"} for p in result.proposals)
    merge = next(p for p in result.proposals if p["kind"] == "merge" and set(p["segments"]) == {"B", "C"})
    mix = next(e for e in merge["evidence"]["holdout"]["equivalence"] if e["measure"] == "topic_mix")
    assert mix["level"] == PARENT_LEVEL  # shown alike over the parents
    assert (
        "they differ over all their comments" in merge["evidence"]["why_not"]
        and "topic_mix" in merge["evidence"]["why_not"]
    )
