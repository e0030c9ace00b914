import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from refine.stats import benjamini_hochberg, compare, mean_ci, nps, proportion_ci, stratified_compare, tost


def test_welch_matches_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1, 2, 80), rng.normal(0.2, 1, 120)
    c = compare("x", a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert c.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    low, high = ref.confidence_interval(0.95)
    assert (c.ci_low, c.ci_high) == pytest.approx((low, high), rel=1e-9)


def test_two_proportions_match_statsmodels():
    a = np.r_[np.ones(30), np.zeros(70)]
    b = np.r_[np.ones(45), np.zeros(55)]
    c = compare("x", a, b)
    z, p = proportions_ztest([30, 45], [100, 100])
    assert c.p_value == pytest.approx(p, rel=1e-9)
    assert c.effect == pytest.approx(2 * np.arcsin(np.sqrt(0.3)) - 2 * np.arcsin(np.sqrt(0.45)))


def test_bh_matches_statsmodels():
    p = [0.001, 0.04, 0.03, 0.5, 0.2, 0.01]
    assert benjamini_hochberg(p) == pytest.approx(multipletests(p, method="fdr_bh")[1].tolist())


def test_intervals():
    mean, low, high = mean_ci(np.array([1.0, 2, 3, 4]))
    assert mean == 2.5 and low < 2.5 < high
    p, low, high = proportion_ci(10, 100)
    assert p == 0.1 and 0.05 < low < 0.1 < high < 0.18


def test_nps_and_its_interval():
    scores = np.array([10] * 50 + [8] * 30 + [3] * 20)
    value, low, high = nps(scores)
    assert value == pytest.approx(30.0)
    se = np.sqrt((0.5 + 0.2 - 0.3**2) / 100)
    assert high - low == pytest.approx(2 * 1.959963984540054 * se * 100)


def test_tost_equivalent_and_not():
    rng = np.random.default_rng(0)
    same = tost("x", rng.normal(0, 1, 3000), rng.normal(0, 1, 3000), 0.2)[0]
    different = tost("x", rng.normal(0.5, 1, 3000), rng.normal(0, 1, 3000), 0.2)[0]
    assert same < 0.01 and different > 0.5


def test_stratified_compare_is_not_fooled_by_segment_mix():
    rng = np.random.default_rng(3)
    # group members are mostly in stratum 2, which has a higher baseline; no within-stratum effect
    strata = [(rng.normal(0, 1, 50), rng.normal(0, 1, 500)), (rng.normal(2, 1, 500), rng.normal(2, 1, 50))]
    pooled = stratified_compare("x", strata, binary=False)
    naive = compare("x", np.r_[strata[0][0], strata[1][0]], np.r_[strata[0][1], strata[1][1]])
    assert naive.p_value < 1e-6
    assert pooled.p_value > 0.01 and abs(pooled.diff) < 0.3


def test_stratified_proportions_are_not_fooled_by_a_sparse_stratum():
    """The null-demo false positive: a stratum with 2 'rest' customers, both 0, must not dominate."""
    rng = np.random.default_rng(5)
    strata = [
        ((rng.random(300) < 0.12).astype(float), np.zeros(2)),  # rest all 0: observed variance 0
        ((rng.random(300) < 0.10).astype(float), (rng.random(40) < 0.10).astype(float)),
        ((rng.random(300) < 0.15).astype(float), (rng.random(25) < 0.15).astype(float)),
    ]
    pooled = stratified_compare("x", strata, binary=True)
    assert pooled.p_value > 0.05 and pooled.ci_low < 0 < pooled.ci_high
    # standardised values agree with the difference
    assert pooled.group_value - pooled.rest_value == pytest.approx(pooled.diff)


def test_stratified_single_stratum_is_the_plain_difference():
    rng = np.random.default_rng(6)
    g, r = (rng.random(400) < 0.3).astype(float), (rng.random(600) < 0.2).astype(float)
    pooled, plain = stratified_compare("x", [(g, r)], binary=True), compare("x", g, r)
    assert pooled.diff == pytest.approx(plain.diff)
    assert (pooled.ci_high - pooled.ci_low) == pytest.approx(plain.ci_high - plain.ci_low, rel=0.1)
    gm, rm = rng.normal(1, 2, 300), rng.normal(0, 2, 200)
    assert stratified_compare("y", [(gm, rm)], binary=False).diff == pytest.approx(gm.mean() - rm.mean())


@pytest.mark.parametrize("binary", [True, False])
def test_stratified_compare_keeps_its_false_positive_rate_with_sparse_strata(binary):
    """1000 null data sets with uneven, partly tiny strata: about 5% of p-values fall below 0.05."""
    rng = np.random.default_rng(11)
    sizes = [(200, 3), (150, 40), (20, 300), (5, 80)]
    hits = 0
    for _ in range(1000):
        strata = []
        for k, (n1, n0) in enumerate(sizes):
            base = [0.05, 0.2, 0.4, 0.1][k]
            draw = (
                (lambda n, base=base: (rng.random(n) < base).astype(float))
                if binary
                else (lambda n, k=k: rng.normal(k, 1, n))
            )
            strata.append((draw(n1), draw(n0)))
        hits += stratified_compare("x", strata, binary=binary).p_value < 0.05
    assert 0.025 <= hits / 1000 <= 0.075, hits
