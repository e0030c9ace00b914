"""Confirmation with small groups (issue 31): one-sided holdout tests, exact where the z-test is too thin."""

import numpy as np
import pandas as pd
from scipy import stats

from refine.io.config import ProposalSettings
from refine.segments.propose import Candidate, Measures, _holdout_p
from refine.stats import Comparison, compare, fisher_one_sided, one_sided_p, stratified_permutation


def test_one_sided_p_halves_the_two_sided_p_in_the_direction_found():
    c = compare("x", np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 0.5, 1.0, 1.5]), binary=False)
    assert c is not None and c.diff > 0
    assert one_sided_p(c, +1) == c.p_value / 2
    assert one_sided_p(c, -1) == 1 - c.p_value / 2


def test_fisher_one_sided_is_scipys_exact_test():
    group, rest = np.r_[np.ones(8), np.zeros(12)], np.r_[np.ones(3), np.zeros(197)]
    expected = stats.fisher_exact([[8, 12], [3, 197]], alternative="greater").pvalue
    assert fisher_one_sided(group, rest, +1) == expected < 1e-5
    assert fisher_one_sided(group, rest, -1) > 0.99


def test_stratified_permutation_finds_a_thin_difference_and_holds_its_level_without_one():
    rng = np.random.default_rng(0)
    # 2 segments, a group of 15 respondents in each: 5 of them mention the topic, 1% of the rest do
    strata = [(np.r_[np.ones(5), np.zeros(10)], np.r_[np.ones(2), np.zeros(198)]) for _ in range(2)]
    assert stratified_permutation(strata, +1, np.random.default_rng(1)) == 1 / 1000  # none as extreme in 999
    assert stratified_permutation(strata, -1, np.random.default_rng(1)) > 0.9
    # no difference within segments (but different shares between them): p-values spread evenly
    rejected = 0
    for _ in range(200):
        null = [(rng.random(15) < share, rng.random(200) < share) for share in (0.02, 0.3)]
        rejected += stratified_permutation([(g * 1.0, r * 1.0) for g, r in null], +1, rng, 199) < 0.05
    assert rejected <= 18  # 5% of 200 is 10; binomial 99.5% bound about 19


def _split(n_group: int, yes_group: int, n_rest: int, yes_rest: int) -> tuple[Candidate, Measures, pd.Series]:
    """A split candidate whose lead measure is a topic share with the given answers on the holdout."""
    n = n_group + n_rest
    topic = np.r_[np.ones(yes_group), np.zeros(n_group - yes_group), np.ones(yes_rest), np.zeros(n_rest - yes_rest)]
    respondent = pd.DataFrame({"sentiment": np.zeros(n), "negative": np.zeros(n), "topic_0": topic})
    outcomes = pd.DataFrame({"churned": np.zeros(n)})
    binary = {"sentiment": False, "negative": True, "topic_0": True, "churned": True}
    measures = Measures(respondent, outcomes, binary, np.zeros(n, dtype=np.int64), ["A"])
    mask = pd.Series(np.arange(n) < n_group)
    lead = Comparison("topic_0", "proportion", 30, 300, 0.4, 0.02, 0.38, 0.2, 0.5, 1.0, 1e-8, p_adjusted=1e-5)
    cand = Candidate(
        "split", ["A"], 'segment == "A" and x == 1', ["x == 1"], mask, [lead],
        extra={"outside": pd.Series(True, index=mask.index), "segment_mask": pd.Series(True, index=mask.index)},
    )  # fmt: skip
    return cand, measures, pd.Series(True, index=mask.index)


def test_a_thin_topic_share_is_confirmed_by_fishers_exact_test_on_the_holdout():
    # 20 holdout respondents in the group, 8 on the topic; 3 of 200 in the rest: too few expected for the z-test
    cand, measures, holdout = _split(20, 8, 200, 3)
    p = _holdout_p(cand, measures, holdout, ProposalSettings(), np.random.default_rng(0))
    assert cand.extra["confirmed_by"]["test"] == "Fisher's exact test"
    assert cand.extra["confirmed_by"]["measure"] == "topic_0" and cand.extra["confirmed_by"]["direction"] == "higher"
    assert p == stats.fisher_exact([[8, 12], [3, 197]], alternative="greater").pvalue < 1e-5


def test_a_share_with_enough_answers_is_confirmed_by_the_z_test_one_sided():
    cand, measures, holdout = _split(60, 30, 300, 60)
    p = _holdout_p(cand, measures, holdout, ProposalSettings(), np.random.default_rng(0))
    assert cand.extra["confirmed_by"]["test"] == "proportion test"
    two_sided = compare("topic_0", np.r_[np.ones(30), np.zeros(30)], np.r_[np.ones(60), np.zeros(240)], binary=True)
    assert two_sided is not None and abs(p - two_sided.p_value / 2) < 1e-12


def test_a_split_term_turned_round_is_the_other_side_of_its_cut_in_the_same_segment():
    from refine.segments.propose import _complement_side
    from refine.segments.search import describe_columns

    rng = np.random.default_rng(0)
    n = 2000
    customers = pd.DataFrame({"spend": rng.gamma(2.0, 50.0, n).round(1), "app": rng.random(n) < 0.4})
    customers.loc[:20, "spend"] = np.nan
    attributes, _ = describe_columns(customers, ["spend", "app"], 100)
    segment = pd.Series(rng.random(n) < 0.5)
    for attribute in attributes:
        first = next(c for c in attribute.conditions if not c.is_range and "None" not in c.text and c.low == 0)
        mask = segment & pd.Series((attribute.codes >= first.low) & (attribute.codes < first.high))
        best = Candidate(
            "split", ["A"], f'segment == "A" and {first.text}', [first.text], mask,
            extra={"condition": first, "segment_mask": segment, "outside": pd.Series(True, index=segment.index)},
        )  # fmt: skip
        other = _complement_side(best, attributes)
        assert other is not None and other.rule == f'segment == "A" and {other.terms[0]}'
        inside = customers.loc[other.mask.to_numpy()]
        column = customers[attribute.column]
        # the two sides share no customer, and together they are the segment's customers with a value
        assert not (other.mask & mask).any()
        assert int((other.mask | mask).sum()) == int((segment & column.notna()).sum())
        assert len(inside) and inside[attribute.column].notna().all()
