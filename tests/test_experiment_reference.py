"""refine's A/B figures against GrowthBook's gbstats (pinned 0.8.0, a test-only reference; see pyproject.toml).

Where the method is the same the figures agree to 1e-6 on point estimates and 1e-4 on intervals and
probabilities. Where refine differs by design, the test says how and checks the difference is exactly that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

gbstats = pytest.importorskip(
    "gbstats", reason="gbstats is the test-only reference: pip install --no-deps gbstats==0.8.0"
)

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior  # noqa: E402
from gbstats.frequentist.tests import (  # noqa: E402
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (  # noqa: E402
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)

from refine.experiment import analyze_experiment  # noqa: E402
from refine.experiment.bayesian import Prior  # noqa: E402

POINT, INTERVAL = 1e-6, 1e-4


def table(n=4000, seed=1):
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "treatment"], n)
    t = arm == "treatment"
    pre = rng.gamma(3, 10, n)
    orders = rng.poisson(1.5, n) + 1
    return pd.DataFrame(
        {
            "user": [f"u{i}" for i in range(n)],
            "group": arm,
            "converted": (rng.random(n) < 0.12 + 0.02 * t).astype(int),
            "revenue": 0.6 * pre + rng.gamma(2, 8, n) + 1.5 * t,
            "pre": pre,
            "orders": orders,
            "spend": orders * rng.gamma(4, 5, n) * (1 + 0.05 * t),
        }
    )


def cell(report, metric):
    return next(r for r in report["results"] if r["metric"] == metric and r["segment"] is None)


def mean_stat(v):
    return SampleMeanStatistic(n=len(v), sum=float(v.sum()), sum_squares=float((v**2).sum()))


def arms(df, column):
    return df.loc[df.group == "control", column].to_numpy(float), df.loc[df.group == "treatment", column].to_numpy(
        float
    )


def close(a, b, tol):
    assert np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=tol), (a, b)


def test_welch_absolute_and_sequential_match_gbstats():
    df = table()
    for interval, tuning in (("fixed", None), ("sequential", 5000.0), ("sequential", 1234.0)):
        rep = analyze_experiment(
            df, unit="user", arm="group", control="control", metrics=["revenue"], interval=interval, tuning=tuning
        )
        r = cell(rep, "revenue")
        c, t = arms(df, "revenue")
        fixed = TwoSidedTTest(
            mean_stat(c), mean_stat(t), FrequentistConfig(difference_type="absolute")
        ).compute_result()
        close(r["abs_lift"], fixed.expected, POINT)
        close(r["abs_ci"], fixed.ci, INTERVAL)
        close(r["p_value"], fixed.p_value, INTERVAL)
        seq_cfg = SequentialConfig(difference_type="absolute", sequential_tuning_parameter=tuning or 5000.0)
        seq = SequentialTwoSidedTTest(mean_stat(c), mean_stat(t), seq_cfg).compute_result()
        close(r["sequential"]["abs_ci"], seq.ci, INTERVAL)
        close(r["sequential"]["p_value"], seq.p_value, INTERVAL)
        rel = SequentialTwoSidedTTest(
            mean_stat(c), mean_stat(t), SequentialConfig(sequential_tuning_parameter=tuning or 5000.0)
        ).compute_result()
        close(r["rel_lift"], rel.expected, POINT)
        close(r["sequential"]["rel_ci"], rel.ci, INTERVAL)


def test_relative_interval_differs_by_design_normal_vs_student_t():
    """Same relative estimate and delta-method standard error as gbstats; refine's fixed-horizon relative interval
    uses the normal quantile (as before this change), gbstats' the Student t quantile on Welch's degrees of
    freedom. With the quantile swapped the intervals agree."""
    df = table()
    r = cell(analyze_experiment(df, unit="user", arm="group", control="control", metrics=["revenue"]), "revenue")
    c, t = arms(df, "revenue")
    g = TwoSidedTTest(mean_stat(c), mean_stat(t), FrequentistConfig(difference_type="relative")).compute_result()
    close(r["rel_lift"], g.expected, POINT)
    close(r["rel_se"], g.uplift.stddev, POINT)
    z, tq = stats.norm.ppf(0.975), stats.t.ppf(0.975, r["df"])
    close(r["rel_ci"], [r["rel_lift"] - z * r["rel_se"], r["rel_lift"] + z * r["rel_se"]], POINT)
    close(g.ci, [r["rel_lift"] - tq * r["rel_se"], r["rel_lift"] + tq * r["rel_se"]], INTERVAL)


def test_binary_same_estimate_and_se_test_differs_by_design():
    """Binary metrics: the same difference and unpooled standard error p(1-p)/n as gbstats' ProportionStatistic.
    refine's fixed-horizon p-value is the pooled two-proportion z-test and its interval uses z (the textbook test,
    as statsmodels); gbstats runs its t-test on the proportions. The sequential and Bayesian figures, which use
    only the estimate and the standard error, agree exactly."""
    df = table()
    rep = analyze_experiment(df, unit="user", arm="group", control="control", metrics=["converted"])
    r = cell(rep, "converted")
    c, t = arms(df, "converted")
    pa, pb = ProportionStatistic(n=len(c), sum=float(c.sum())), ProportionStatistic(n=len(t), sum=float(t.sum()))
    g = TwoSidedTTest(pa, pb, FrequentistConfig(difference_type="absolute"))
    close(r["abs_lift"], g.point_estimate, POINT)
    close(r["se"], np.sqrt(g.variance), POINT)
    z = stats.norm.ppf(0.975)
    close(r["abs_ci"], [r["abs_lift"] - z * r["se"], r["abs_lift"] + z * r["se"]], POINT)
    seq = SequentialTwoSidedTTest(pa, pb, SequentialConfig(difference_type="absolute")).compute_result()
    close(r["sequential"]["abs_ci"], seq.ci, INTERVAL)
    close(r["sequential"]["p_value"], seq.p_value, INTERVAL)
    bayes = EffectBayesianABTest(pa, pb, EffectBayesianConfig()).compute_result()
    close(r["bayesian"]["chance_to_win"], bayes.chance_to_win, INTERVAL)
    close(r["bayesian"]["rel_mean"], bayes.expected, POINT)
    close(r["bayesian"]["rel_ci"], bayes.ci, INTERVAL)
    close([r["bayesian"]["risk_keep"], r["bayesian"]["risk_ship"]], bayes.risk, INTERVAL)


@pytest.mark.parametrize("lower_is_better", [False, True])
@pytest.mark.parametrize("prior", [Prior(), Prior(0.02, 0.05), Prior(-0.01, 0.3)])
def test_bayesian_matches_gbstats(prior, lower_is_better):
    df = table(seed=4)
    rep = analyze_experiment(
        df,
        unit="user",
        arm="group",
        control="control",
        metrics=["revenue"],
        prior=prior,
        lower_is_better=["revenue"] if lower_is_better else [],
    )
    r = cell(rep, "revenue")
    c, t = arms(df, "revenue")
    gprior = GaussianPrior(mean=prior.mean, variance=(prior.sd or 1.0) ** 2, proper=prior.proper)
    for scale, key in (("relative", "rel"), ("absolute", "abs")):
        cfg = EffectBayesianConfig(difference_type=scale, prior_effect=gprior, inverse=lower_is_better)
        g = EffectBayesianABTest(mean_stat(c), mean_stat(t), cfg).compute_result()
        b = r["bayesian"]
        close(b[f"{key}_mean"], g.expected, POINT)
        close(b[f"{key}_ci"], g.ci, INTERVAL)
        if key == "rel":
            close(b["chance_to_win"], g.chance_to_win, INTERVAL)
            close([b["risk_keep"], b["risk_ship"]], g.risk, INTERVAL)
        else:
            close(b["abs_chance_to_win"], g.chance_to_win, INTERVAL)
            close(b["abs_risk_ship"], g.risk[1], INTERVAL)


def test_ratio_metric_matches_gbstats_delta_method():
    df = table(seed=7)
    rep = analyze_experiment(
        df, unit="user", arm="group", control="control", metrics=["spo"], ratios={"spo": ("spend", "orders")}
    )
    r = cell(rep, "spo")
    stat = {}
    for name in ("control", "treatment"):
        part = df[df.group == name]
        m, d = part["spend"].to_numpy(float), part["orders"].to_numpy(float)
        stat[name] = RatioStatistic(
            n=len(part), m_statistic=mean_stat(m), d_statistic=mean_stat(d), m_d_sum_of_products=float((m * d).sum())
        )
    g = TwoSidedTTest(stat["control"], stat["treatment"], FrequentistConfig(difference_type="absolute"))
    res = g.compute_result()
    close([r["mean_control"], r["mean_treatment"]], [stat["control"].mean, stat["treatment"].mean], POINT)
    close(r["abs_lift"], res.expected, POINT)
    close(r["abs_ci"], res.ci, INTERVAL)
    close(r["p_value"], res.p_value, INTERVAL)
    seq = SequentialTwoSidedTTest(stat["control"], stat["treatment"], SequentialConfig()).compute_result()
    close(r["rel_lift"], seq.expected, POINT)
    close(r["sequential"]["rel_ci"], seq.ci, INTERVAL)


def test_cuped_absolute_matches_gbstats_regression_adjustment():
    """CUPED: same theta (pooled over arms) and absolute effect and interval as gbstats' RegressionAdjustedStatistic.
    By design refine's relative lift under CUPED divides by the *adjusted* control mean, gbstats by the unadjusted
    one, so relative CUPED figures are not compared."""
    df = table(seed=9)
    rep = analyze_experiment(
        df, unit="user", arm="group", control="control", metrics=["revenue"], covariates={"revenue": "pre"}
    )
    r = cell(rep, "revenue")
    stat = {}
    for name in ("control", "treatment"):
        part = df[df.group == name]
        y, x = part["revenue"].to_numpy(float), part["pre"].to_numpy(float)
        stat[name] = RegressionAdjustedStatistic(
            n=len(part),
            post_statistic=mean_stat(y),
            pre_statistic=mean_stat(x),
            post_pre_sum_of_products=float((x * y).sum()),
            theta=0,
        )
    g = TwoSidedTTest(stat["control"], stat["treatment"], FrequentistConfig(difference_type="absolute"))
    close(rep["metrics"]["revenue"]["cuped"]["theta"], g.stat_a.theta, POINT)
    res = g.compute_result()
    close(r["abs_lift"], res.expected, POINT)
    close(r["abs_ci"], res.ci, INTERVAL)
    close(r["p_value"], res.p_value, INTERVAL)
