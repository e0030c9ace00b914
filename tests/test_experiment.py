"""A/B planning and analysis: every figure checked against scipy / statsmodels computed here, on generated data."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import typer
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize, proportions_ztest
from typer.testing import CliRunner

from refine.cli.ab import ab_app
from refine.errors import RefineError
from refine.experiment import (
    adjust_pvalues,
    analyze_experiment,
    assign_arms,
    load_experiment_data,
    parse_consistency,
    plan_experiment,
    write_ab_report,
)

Z = stats.norm.ppf(0.975)


def experiment(n=3000, seed=0, conv_lift=0.03, rev_lift=0.4, segments=("A", "B", "C")):
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "treatment"], n)
    t = arm == "treatment"
    pre = rng.gamma(4, 5, n)
    return pd.DataFrame(
        {
            "user": [f"u{i:05d}" for i in range(n)],
            "group": arm,
            "segment": rng.choice(list(segments), n),
            "converted": (rng.random(n) < 0.2 + conv_lift * t).astype(int),
            "pre_revenue": pre,
            "revenue": 0.7 * pre + rng.normal(0, 4, n) + rev_lift * t,
            "churned": (rng.random(n) < 0.1).astype(int),
        }
    )


def cell(report, metric, segment=None, arm="treatment"):
    return next(r for r in report["results"] if r["metric"] == metric and r["segment"] == segment and r["arm"] == arm)


def delta_rel(mt, vt, mc, vc):
    """Relative lift and its delta-method CI, written out independently; v* are variances of the means."""
    rel = mt / mc - 1
    se = np.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
    return rel, rel - Z * se, rel + Z * se


def analyze(df, metrics, **settings):
    """analyze_experiment on experiment()'s columns: unit user, arm group, control arm control."""
    return analyze_experiment(df, unit="user", arm="group", control="control", metrics=metrics, **settings)


# ---- analysis figures ----------------------------------------------------------------------


def test_binary_metric_matches_statsmodels():
    df = experiment()
    rep = analyze(df, ["converted"], covariates=None, segment=None, guardrails=[])
    r = cell(rep, "converted")
    yt = df.loc[df.group == "treatment", "converted"]
    yc = df.loc[df.group == "control", "converted"]
    assert (r["n_treatment"], r["n_control"]) == (len(yt), len(yc))
    assert r["mean_treatment"] == pytest.approx(yt.mean()) and r["mean_control"] == pytest.approx(yc.mean())
    assert r["abs_lift"] == pytest.approx(yt.mean() - yc.mean())
    lo, hi = confint_proportions_2indep(yt.sum(), len(yt), yc.sum(), len(yc), method="wald", compare="diff")
    assert r["abs_ci"] == pytest.approx([lo, hi], rel=1e-10)
    z, p = proportions_ztest([yt.sum(), yc.sum()], [len(yt), len(yc)])
    assert r["statistic"] == pytest.approx(z) and r["p_value"] == pytest.approx(p, rel=1e-10)
    rel, rlo, rhi = delta_rel(yt.mean(), yt.var(ddof=0) / len(yt), yc.mean(), yc.var(ddof=0) / len(yc))
    assert r["rel_lift"] == pytest.approx(rel) and r["rel_ci"] == pytest.approx([rlo, rhi], rel=1e-10)
    assert r["p_adjusted"] == pytest.approx(p)  # one test: nothing to correct


def test_continuous_metric_matches_scipy_welch():
    df = experiment()
    rep = analyze(df, ["revenue"], covariates=None, segment=None, guardrails=[])
    r = cell(rep, "revenue")
    yt = df.loc[df.group == "treatment", "revenue"].to_numpy()
    yc = df.loc[df.group == "control", "revenue"].to_numpy()
    res = stats.ttest_ind(yt, yc, equal_var=False)
    ci = res.confidence_interval(0.95)
    assert r["statistic"] == pytest.approx(res.statistic) and r["p_value"] == pytest.approx(res.pvalue, rel=1e-10)
    assert r["df"] == pytest.approx(res.df)
    assert r["abs_lift"] == pytest.approx(yt.mean() - yc.mean())
    assert r["abs_ci"] == pytest.approx([ci.low, ci.high], rel=1e-10)
    rel, rlo, rhi = delta_rel(yt.mean(), yt.var(ddof=1) / len(yt), yc.mean(), yc.var(ddof=1) / len(yc))
    assert r["rel_lift"] == pytest.approx(rel) and r["rel_ci"] == pytest.approx([rlo, rhi], rel=1e-10)


def test_cuped_matches_direct_computation():
    df = experiment()
    rep = analyze(df, ["revenue"], covariates=["pre_revenue"], segment="segment", guardrails=[])
    y, x = df["revenue"].to_numpy(), df["pre_revenue"].to_numpy()
    theta = np.cov(y, x)[0, 1] / np.var(x, ddof=1)
    adj = y - theta * (x - x.mean())
    t = (df.group == "treatment").to_numpy()
    info = rep["metrics"]["revenue"]["cuped"]
    assert info["theta"] == pytest.approx(theta)
    assert info["variance_reduction"] == pytest.approx(1 - np.var(adj, ddof=1) / np.var(y, ddof=1))
    assert info["variance_reduction"] > 0.5
    res = stats.ttest_ind(adj[t], adj[~t], equal_var=False)
    ci = res.confidence_interval(0.95)
    r = cell(rep, "revenue")
    assert r["p_value"] == pytest.approx(res.pvalue, rel=1e-9)
    assert r["abs_lift"] == pytest.approx(adj[t].mean() - adj[~t].mean())
    assert r["abs_ci"] == pytest.approx([ci.low, ci.high], rel=1e-9)
    assert r["mean_treatment"] == pytest.approx(y[t].mean())  # raw means reported beside the adjusted ones
    rel, rlo, rhi = delta_rel(
        adj[t].mean(), adj[t].var(ddof=1) / t.sum(), adj[~t].mean(), adj[~t].var(ddof=1) / (~t).sum()
    )
    assert r["rel_ci"] == pytest.approx([rlo, rhi], rel=1e-9)
    # per segment: the same global adjustment, variance reduction within the segment
    seg = (df.segment == "B").to_numpy()
    rb = cell(rep, "revenue", "B")
    assert rb["p_value"] == pytest.approx(
        stats.ttest_ind(adj[seg & t], adj[seg & ~t], equal_var=False).pvalue, rel=1e-9
    )
    assert rb["variance_reduction"] == pytest.approx(1 - np.var(adj[seg], ddof=1) / np.var(y[seg], ddof=1))
    # CUPED narrows the interval compared with the raw analysis
    raw = cell(analyze_experiment(df, unit="user", arm="group", control="control", metrics=["revenue"]), "revenue")
    assert (r["abs_ci"][1] - r["abs_ci"][0]) < 0.8 * (raw["abs_ci"][1] - raw["abs_ci"][0])


def test_covariate_pairing_syntaxes_agree():
    df = experiment()
    kw = dict(unit="user", arm="group", control="control", metrics=["converted", "revenue"])
    a = analyze_experiment(df, covariates=["-", "pre_revenue"], **kw)
    b = analyze_experiment(df, covariates=["revenue:pre_revenue"], **kw)
    c = analyze_experiment(df, covariates={"revenue": "pre_revenue"}, **kw)
    assert a["results"] == b["results"] == c["results"]
    assert "cuped" not in a["metrics"]["converted"]


def test_segments_and_corrections_match_multipletests():
    df = experiment(n=4000, seed=3)
    for method, sm in (("bh", "fdr_bh"), ("holm", "holm")):
        rep = analyze(df, ["converted", "revenue"], segment="segment", guardrails=["churned"], correction=method)
        family = [r for r in rep["results"] if r["metric"] in ("converted", "revenue")]
        assert len(family) == 2 * 4 == rep["correction"]["tests"]
        reject, padj, _, _ = multipletests([r["p_value"] for r in family], alpha=0.05, method=sm)
        assert [r["p_adjusted"] for r in family] == pytest.approx(list(padj), rel=1e-12)
        assert [r["significant"] for r in family] == list(reject)
        # segment cells are the plain tests inside the segment
        sub = df[df.segment == "C"]
        yt, yc = sub.loc[sub.group == "treatment", "converted"], sub.loc[sub.group == "control", "converted"]
        assert cell(rep, "converted", "C")["p_value"] == pytest.approx(
            proportions_ztest([yt.sum(), yc.sum()], [len(yt), len(yc)])[1], rel=1e-10
        )
        guard = cell(rep, "churned")
        assert guard["p_adjusted"] is None  # guardrail-only metrics are judged uncorrected
    rng = np.random.default_rng(0)
    p = rng.random(30) ** 3
    for method, sm in (("bh", "fdr_bh"), ("holm", "holm")):
        assert adjust_pvalues(p, method) == pytest.approx(multipletests(p, method=sm)[1], rel=1e-12)


def test_srm_matches_scipy_chisquare_and_warns():
    df = experiment(n=2000)
    drop = df[df.group == "treatment"].index[:300]
    skewed = df.drop(drop)
    rep = analyze_experiment(skewed, unit="user", arm="group", control="control", metrics=["converted"])
    counts = skewed.group.value_counts()
    chi2, p = stats.chisquare([counts["control"], counts["treatment"]])
    assert rep["srm"]["chi2"] == pytest.approx(chi2) and rep["srm"]["p_value"] == pytest.approx(p)
    assert rep["srm"]["mismatch"] and any("SAMPLE RATIO MISMATCH" in w for w in rep["warnings"])
    rep = analyze_experiment(df, unit="user", arm="group", control="control", metrics=["converted"], expected_split=0.3)
    counts = df.group.value_counts()
    n = len(df)
    assert rep["srm"]["p_value"] == pytest.approx(
        stats.chisquare([counts["control"], counts["treatment"]], [0.7 * n, 0.3 * n]).pvalue
    )


def test_data_quality_policy_counts_add_up():
    df = experiment(n=400, seed=5)
    df["page"] = np.where(df.group == "treatment", "new", "old")
    extra = [
        df.iloc[[0]].assign(converted=1 - df.iloc[0]["converted"]),  # duplicate of unit 0, same arm
        df.iloc[[1]].assign(
            group="treatment" if df.iloc[1]["group"] == "control" else "control",
            page="new" if df.iloc[1]["group"] == "control" else "old",
        ),  # unit 1 in both arms
        df.iloc[[2]].assign(page="new" if df.iloc[2]["group"] == "control" else "old"),  # contradicting row
        df.iloc[[3]].assign(user=None),  # no unit
    ]
    dirty = pd.concat([df, *extra], ignore_index=True)
    dirty.loc[[10, 11, 12], "revenue"] = np.nan
    dirty.loc[[13], "pre_revenue"] = np.nan
    rep = analyze_experiment(
        dirty,
        unit="user",
        arm="group",
        control="control",
        metrics=["converted", "revenue"],
        covariates={"revenue": "pre_revenue"},
        consistency=["group:page=control:old,treatment:new"],
    )
    q = rep["data_quality"]
    assert q["excluded_rows"] == {
        "missing_unit_or_arm": 1,
        "contradicting": 1,
        "unit_in_both_arms": 2,
        "duplicate_rows": 1,
        "stray_arm_label": 0,
    }
    assert q["accepted_units"] == 400 - 1 and q["accounted"]
    assert q["accepted_units"] + q["excluded_total"] == q["input_rows"] == len(dirty)
    assert q["duplicate_units"] == 1 and q["units_in_both_arms"] == 1
    assert q["missing_outcome"] == {"converted": 0, "revenue": 3}
    assert q["missing_covariate_filled"] == {"revenue": 1}
    assert cell(rep, "revenue")["n_control"] + cell(rep, "revenue")["n_treatment"] == 399 - 3
    # the duplicate kept its first row: unit 0's original outcome is what is analysed
    clean = df.drop(index=1)
    yt = clean.loc[clean.group == "treatment", "converted"]
    yc = clean.loc[clean.group == "control", "converted"]
    assert cell(rep, "converted")["p_value"] == pytest.approx(
        proportions_ztest([yt.sum(), yc.sum()], [len(yt), len(yc)])[1], rel=1e-10
    )


def test_consistency_syntax():
    check = parse_consistency("group:landing_page=control:old_page,treatment:new_page")
    assert (check.column, check.other) == ("group", "landing_page")
    assert check.expected == {"control": "old_page", "treatment": "new_page"}
    assert parse_consistency(("group:landing_page", "control:old_page,treatment:new_page")) == check
    for bad in ("group:landing_page", "group=control:old", "a:b=control"):
        with pytest.raises(RefineError):
            parse_consistency(bad)


def test_decisions():
    kw = dict(unit="user", arm="group", control="control")
    ship = analyze_experiment(
        experiment(n=6000, conv_lift=0.05),
        metrics=["converted"],
        guardrails=["churned"],
        lower_is_better=["churned"],
        **kw,
    )
    assert ship["decision"]["decision"] == "ship" and len(ship["decision"]["reasons"]) == 3
    worse = analyze_experiment(experiment(n=6000, conv_lift=-0.05), metrics=["converted"], **kw)
    assert worse["decision"]["decision"] == "stop" and "worse" in worse["decision"]["reasons"][0]
    flat = analyze_experiment(experiment(n=2000, conv_lift=0.0, seed=1), metrics=["converted"], **kw)
    assert flat["decision"]["decision"] == "keep testing"
    # a harmed guardrail stops a winning test; churn going up is harm because lower is better
    df = experiment(n=6000, conv_lift=0.05)
    rng = np.random.default_rng(9)
    df["churned"] = (rng.random(len(df)) < np.where(df.group == "treatment", 0.2, 0.1)).astype(int)
    harmed = analyze_experiment(df, metrics=["converted"], guardrails=["churned"], lower_is_better=["churned"], **kw)
    assert harmed["decision"]["decision"] == "stop" and harmed["guardrails"][0]["harmed"]
    # the same rise in a higher-is-better guardrail is not harm
    fine = analyze_experiment(df, metrics=["converted"], guardrails=["churned"], **kw)
    assert fine["decision"]["decision"] == "ship" and not fine["guardrails"][0]["harmed"]
    # lower-is-better primary: a significant decrease ships
    df2 = experiment(n=6000, conv_lift=-0.05)
    assert (
        analyze_experiment(df2, metrics=["converted"], lower_is_better=["converted"], **kw)["decision"]["decision"]
        == "ship"
    )
    # a significant win with a sample-ratio mismatch keeps testing
    srm = df.drop(df[df.group == "treatment"].index[:600])
    res = analyze_experiment(srm, metrics=["converted"], **kw)
    assert res["srm"]["mismatch"] and res["decision"]["decision"] == "keep testing"
    assert "sample ratio" in res["decision"]["reasons"][0]


def test_several_treatment_arms():
    df = experiment(n=3000)
    df.loc[df.index[::3], "group"] = "variant_b"
    rep = analyze_experiment(df, unit="user", arm="group", control="control", metrics=["revenue"])
    assert rep["settings"]["treatments"] == ["treatment", "variant_b"]
    r = cell(rep, "revenue", arm="variant_b")
    res = stats.ttest_ind(
        df.loc[df.group == "variant_b", "revenue"], df.loc[df.group == "control", "revenue"], equal_var=False
    )
    assert r["p_value"] == pytest.approx(res.pvalue, rel=1e-10)
    counts = df.group.value_counts()
    n = len(df)
    assert rep["srm"]["p_value"] == pytest.approx(
        stats.chisquare(
            [counts["control"], counts["treatment"], counts["variant_b"]], [0.5 * n, 0.25 * n, 0.25 * n]
        ).pvalue
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(metrics=["nope"]), "column 'nope' not found"),
        (dict(metrics=["converted"], control="ctrl"), "control value 'ctrl'"),
        (dict(metrics=["label"]), "not numeric"),
        (dict(metrics=["converted"], segment="region"), "column 'region' not found"),
        (dict(metrics=["converted"], covariates=["a:b", "c"]), "not both"),
    ],
)
def test_errors_are_refine_errors(kwargs, message):
    df = experiment(n=200).assign(label="x")
    args = dict(unit="user", arm="group", control="control") | kwargs
    with pytest.raises(RefineError, match=message):
        analyze_experiment(df, **args)
    only_control = df[df.group == "control"]
    with pytest.raises(RefineError, match="no treatment arm"):
        analyze_experiment(only_control, unit="user", arm="group", control="control", metrics=["converted"])


def test_report_files_are_escaped_and_self_contained(tmp_path):
    df = experiment(n=500).rename(columns={"revenue": "<script>alert(1)</script>"})
    rep = analyze(df, ["converted", "<script>alert(1)</script>"], segment="segment")
    paths = write_ab_report(rep, tmp_path)
    page = paths["html"].read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page and "<svg" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert json.loads(paths["json"].read_text())["decision"]["decision"] in ("ship", "keep testing", "stop")
    assert "u00001" not in page and "u00001" not in paths["md"].read_text()  # no unit ids in reports


def test_load_experiment_data_joins_outcomes(tmp_path):
    df = experiment(n=300)
    df[["user", "group", "segment"]].to_csv(tmp_path / "assign.csv", index=False)
    outcomes = df[["user", "converted"]].iloc[:250]
    pd.concat([outcomes, outcomes.iloc[:5], pd.DataFrame({"user": ["ghost"], "converted": [1]})]).to_csv(
        tmp_path / "out.csv", index=False
    )
    joined = load_experiment_data(tmp_path / "assign.csv", tmp_path / "out.csv", "user")
    assert len(joined) == 300 and joined.attrs["refine_load"]["outcome_exact_duplicates"] == 5
    assert joined.attrs["refine_load"]["outcome_rows_without_assignment"] == 1
    rep = analyze_experiment(joined, unit="user", arm="group", control="control", metrics=["converted"])
    assert rep["data_quality"]["missing_outcome"]["converted"] == 50
    assert any("50 of 300 accepted units (17%) have no 'converted' value" in w for w in rep["warnings"])
    conflicting = pd.concat([outcomes, outcomes.iloc[:1].assign(converted=1 - outcomes.iloc[0]["converted"])])
    conflicting.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(RefineError, match="different outcome rows"):
        load_experiment_data(tmp_path / "assign.csv", tmp_path / "bad.csv", "user")


# ---- planning ------------------------------------------------------------------------------


def customers(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "cid": [f"C{i}" for i in range(n)],
            "tier": rng.choice(["Gold", "Silver", "Bronze"], n),
            "region": rng.choice(["west", "east"], n),
            "churned": (rng.random(n) < 0.2).astype(int),
            "spend": rng.gamma(3, 30, n),
        }
    )


def test_plan_binary_power_matches_statsmodels():
    cust = customers()
    assign, plan = plan_experiment(
        cust, rule='region == "west"', customer_id="cid", segment="tier", metric="churned", mde=-0.05, salt="p1"
    )
    west = cust[cust.region == "west"]
    p0 = west.churned.mean()
    h = proportion_effectsize(p0 - 0.05, p0)
    n = NormalIndPower().solve_power(effect_size=abs(h), alpha=0.05, power=0.8, ratio=1)
    assert plan["metric_type"] == "binary" and plan["baseline"]["mean"] == pytest.approx(p0)
    assert plan["n_per_arm_required"] == {"treatment": int(np.ceil(n)), "control": int(np.ceil(n))}
    assert plan["eligible"] == len(west) == len(assign) and plan["feasible"]
    nt, nc = plan["arms"]["treatment"], plan["arms"]["control"]
    h_pop = NormalIndPower().solve_power(nobs1=nt, alpha=0.05, power=0.8, ratio=nc / nt)
    assert plan["mde_at_population"]["effect_size"] == pytest.approx(h_pop)
    p1 = np.sin(np.arcsin(np.sqrt(p0)) + h_pop / 2) ** 2
    assert proportion_effectsize(p1, p0) == pytest.approx(h_pop)
    assert plan["mde_at_population"]["absolute"] == pytest.approx(p1 - p0)


def test_plan_continuous_power_and_infeasible_warning():
    cust = customers(n=600)
    assign, plan = plan_experiment(
        cust,
        rule='tier == "Gold"',
        customer_id="cid",
        segment="region",
        metric="spend",
        mde=0.05,
        mde_relative=True,
        salt="p2",
        treatment_share=0.4,
    )
    gold = cust[cust.tier == "Gold"]
    d = 0.05 * gold.spend.mean() / gold.spend.std(ddof=1)
    n = TTestIndPower().solve_power(effect_size=d, alpha=0.05, power=0.8, ratio=0.6 / 0.4)
    assert plan["n_per_arm_required"] == {"treatment": int(np.ceil(n)), "control": int(np.ceil(n * 1.5))}
    assert not plan["feasible"] and plan["warnings"][0].startswith("UNDERPOWERED")
    nt, nc = plan["arms"]["treatment"], plan["arms"]["control"]
    d_pop = TTestIndPower().solve_power(nobs1=nt, alpha=0.05, power=0.8, ratio=nc / nt)
    assert plan["mde_at_population"]["absolute"] == pytest.approx(d_pop * gold.spend.std(ddof=1))
    assert abs(nt / (nt + nc) - 0.4) < 2 / (nt + nc)


def test_assignment_is_deterministic_order_independent_and_balanced():
    cust = customers(n=3001)
    kw = dict(rule="spend > 0", customer_id="cid", segment="tier", metric="spend", mde=5.0, salt="prop-7")
    a, _ = plan_experiment(cust, **kw)
    b, _ = plan_experiment(cust.sample(frac=1, random_state=4), **kw)
    merged = a.merge(b, on="cid")
    assert len(merged) == len(cust) and (merged.arm_x == merged.arm_y).all()
    c, _ = plan_experiment(cust, **(kw | {"salt": "other"}))
    assert (a.set_index("cid").arm != c.set_index("cid").arm).mean() > 0.3
    for _, seg in a.groupby("tier"):
        counts = seg.arm.value_counts()
        assert abs(counts.get("treatment", 0) - counts.get("control", 0)) <= 1
    assert list(a.columns) == ["cid", "tier", "arm"]
    # unstratified: exactly the documented hash rule
    ids = cust.cid.iloc[:50]
    arms = assign_arms(ids, None, salt="s", treatment_share=0.5)
    want = [
        "treatment"
        if int.from_bytes(hashlib.sha256(f"s:{i}".encode()).digest()[:8], "big") / 2**64 < 0.5
        else "control"
        for i in ids
    ]
    assert list(arms) == want


# ---- CLI -----------------------------------------------------------------------------------


@pytest.fixture
def cli():
    app = typer.Typer()
    app.add_typer(ab_app, name="ab")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["ab", *map(str, args)])


def test_cli_analyze(cli, tmp_path):
    df = experiment(n=1500)
    df.to_csv(tmp_path / "data.csv", index=False)
    res = cli(
        "analyze",
        "--data",
        tmp_path / "data.csv",
        "--unit",
        "user",
        "--arm",
        "group",
        "--control",
        "control",
        "--metrics",
        "converted,revenue",
        "--covariates",
        "-,pre_revenue",
        "--segment",
        "segment",
        "--guardrails",
        "churned",
        "--lower-is-better",
        "churned",
        "--correction",
        "holm",
        "--out",
        tmp_path / "o",
    )
    assert res.exit_code == 0, res.output
    assert "decision:" in res.stdout
    rep = json.loads((tmp_path / "o" / "ab_report.json").read_text())
    direct = analyze_experiment(
        df.assign(user=df.user.astype(str)),
        unit="user",
        arm="group",
        control="control",
        metrics=["converted", "revenue"],
        covariates=["-", "pre_revenue"],
        segment="segment",
        guardrails=["churned"],
        lower_is_better=["churned"],
        correction="holm",
    )
    assert rep["results"] == json.loads(json.dumps(direct["results"]))
    assert (tmp_path / "o" / "ab_report.html").exists() and (tmp_path / "o" / "ab_report.md").exists()


def test_cli_plan_with_customers(cli, tmp_path):
    customers(n=2000).to_csv(tmp_path / "c.csv", index=False)
    args = [
        "plan",
        "--customers",
        tmp_path / "c.csv",
        "--rule",
        'tier in ["Gold", "Silver"]',
        "--customer-id",
        "cid",
        "--segment",
        "tier",
        "--metric",
        "churned",
        "--mde",
        "0.03",
        "--proposal",
        "new-1",
    ]
    res = cli(*args, "--out", tmp_path / "p1")
    assert res.exit_code == 0, res.output
    res2 = cli(*args, "--out", tmp_path / "p2")
    first = pd.read_csv(tmp_path / "p1" / "assignments.csv")
    assert first.equals(pd.read_csv(tmp_path / "p2" / "assignments.csv"))
    plan = json.loads((tmp_path / "p1" / "plan.json").read_text())
    assert plan["salt"] == "new-1" and plan["eligible"] == len(first)
    assert "feasible" in res2.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["analyze", "--metrics", "nope"], "column 'nope' not found"),
        (["analyze", "--metrics", "converted", "--control", "ctrl"], "control value 'ctrl'"),
        (["analyze", "--metrics", "converted", "--correction", "sidak"], "bh or holm"),
        (["plan", "--metric", "churned", "--mde", "0.1"], "give --run"),
        (["analyze", "--metrics", "converted", "--covariates", "converted"], "is itself a metric or guardrail"),
    ],
)
def test_cli_errors_exit_2_with_one_line(cli, tmp_path, args, message):
    experiment(n=100).to_csv(tmp_path / "d.csv", index=False)
    base = {
        "analyze": ["--data", tmp_path / "d.csv", "--unit", "user", "--arm", "group", "--control", "control"],
        "plan": [],
    }[args[0]]
    extra = [a for a in args[1:]]
    if args[0] == "analyze" and "--control" in extra:
        base = base[:-2]
    res = cli(args[0], *base, *extra, "--out", tmp_path / "o")
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.stderr
    assert "Traceback" not in res.output


def test_cli_plan_from_a_run_folder(cli, tmp_path, monkeypatch):
    """--run/--proposal reads the proposal's rule and the config's column names (load_run stubbed)."""
    import types

    import refine.io.runs

    cust = customers(n=1500)
    fake = types.SimpleNamespace(
        folder=tmp_path,
        customers=cust.assign(cid=cust.cid.astype(str)),
        config=types.SimpleNamespace(customers=types.SimpleNamespace(customer_id="cid", segment="tier")),
        proposals=[{"id": "split-2", "rule": 'tier == "Gold" and region == "west"'}],
        manifest=types.SimpleNamespace(rule_digests={}),  # a run written before digests: nothing to check
    )
    monkeypatch.setattr(refine.io.runs, "load_run", lambda folder, **kw: fake)
    res = cli(
        "plan",
        "--run",
        tmp_path,
        "--proposal",
        "split-2",
        "--metric",
        "spend",
        "--mde",
        "10",
        "--out",
        tmp_path / "plan",
    )
    assert res.exit_code == 0, res.output
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())
    direct_assign, direct = plan_experiment(
        fake.customers,
        rule=fake.proposals[0]["rule"],
        customer_id="cid",
        segment="tier",
        metric="spend",
        mde=10,
        salt="split-2",
        proposal="split-2",
    )
    assert plan == json.loads(json.dumps(direct))
    assert plan["eligible"] == int(((cust.tier == "Gold") & (cust.region == "west")).sum())
    res = cli(
        "plan", "--run", tmp_path, "--proposal", "nope", "--metric", "spend", "--mde", "10", "--out", tmp_path / "plan2"
    )
    assert res.exit_code == 2 and "no proposal 'nope'" in res.stderr


def test_cli_outputs_never_land_among_other_files(cli, tmp_path):
    """--out naming a folder of someone else's files, or a file, is refused before any work; a rerun replaces."""
    experiment(n=100).to_csv(tmp_path / "d.csv", index=False)
    args = [
        "analyze",
        "--data",
        tmp_path / "d.csv",
        "--unit",
        "user",
        "--arm",
        "group",
        "--control",
        "control",
        "--metrics",
        "converted",
    ]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    for out, message in (
        (tmp_path / "mine", "holds files refine did not write ('notes.txt')"),
        (tmp_path / "d.csv", "the output path is a file"),
    ):
        res = cli(*args, "--out", out)
        assert res.exit_code == 2 and message in res.stderr and "Traceback" not in res.output, res.output
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me" and len(list((tmp_path / "mine").iterdir())) == 1
    assert cli(*args, "--out", tmp_path / "o").exit_code == 0
    again = cli(*args, "--out", tmp_path / "o")  # an earlier analysis: replaced with --force only
    assert again.exit_code == 2 and "holds an earlier A/B analysis; pass --force" in again.stderr, again.output
    assert cli(*args, "--out", tmp_path / "o", "--force").exit_code == 0


def test_arms_spelled_two_ways_are_flagged():
    df = experiment(n=600)
    df.loc[df.index[:40], "group"] = df.loc[df.index[:40], "group"].str.capitalize()
    rep = analyze_experiment(df, unit="user", arm="group", control="control", metrics=["converted"])
    assert any("differ only in letter case" in w and "'Treatment'" in w for w in rep["warnings"]), rep["warnings"]


def test_tables_are_read_by_the_one_reader_and_bad_rows_are_one_line(tmp_path):
    """The A/B tables go through refine.io.ingest's reader: ids keep their zeros, blanks and NA are missing,
    numbers are numbers, JSON arrays are read, and an unparseable row or a missing file is one line."""
    from refine.experiment import read_table

    path = tmp_path / "d.csv"
    path.write_text("user,group,conv,pre\n007,control,1,\n008,treatment,0,2.5\n009,NA,1,3\n")
    frame = read_table(path, ["user"])
    assert frame["user"].tolist() == ["007", "008", "009"]
    assert frame["group"].tolist()[:2] == ["control", "treatment"] and frame["group"].isna().tolist()[2]
    assert frame["conv"].dtype == np.int64 and frame["pre"].dtype == float and np.isnan(frame["pre"][0])
    assert list(frame.index) == [0, 1, 2]
    (tmp_path / "d.json").write_text('[{"user": "01", "m": 1.5}, {"user": "02", "m": null}]')
    assert read_table(tmp_path / "d.json", ["user"])["user"].tolist() == ["01", "02"]
    (tmp_path / "bad.csv").write_text("user,group\n1,a\n2,a,b\n")
    for name, expected in (("bad.csv", "row 2: row has 3 fields"), ("nope.csv", "data file not found")):
        with pytest.raises(RefineError) as caught:
            load_experiment_data(tmp_path / name, None, "user")
        assert expected in str(caught.value) and name in str(caught.value) and "\n" not in str(caught.value)
