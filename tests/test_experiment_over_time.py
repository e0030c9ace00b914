"""A/B features beyond the fixed horizon: sequential plan, timestamps and as-of, daily series, novelty, capping,
ratio metrics, heterogeneity, several arms, days to go, bad input. Figures checked against direct computations."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import typer
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects
from typer.testing import CliRunner

from refine.cli.ab import ab_app
from refine.errors import RefineError
from refine.experiment import ABReport, analyze_experiment, plan_experiment, write_ab_report
from refine.experiment import sequential as seq
from refine.stats import adjust_pvalues, is_binary

KW = dict(unit="user", arm="group", control="control")


def dated(n=4000, seed=0, days=14, lift=0.0, early_only=False, arms=("control", "treatment")):
    rng = np.random.default_rng(seed)
    arm = rng.choice(list(arms), n)
    t = arm != "control"
    day = rng.integers(0, days, n)
    effect = lift * t * ((day < days // 2) if early_only else 1)
    orders = rng.poisson(2, n)
    return pd.DataFrame(
        {
            "user": [f"u{i}" for i in range(n)],
            "group": arm,
            "ts": (pd.Timestamp("2026-03-01 08:00") + pd.to_timedelta(day, "D")).astype(str),
            "segment": rng.choice(["A", "B", "C"], n),
            "region": rng.choice(["west", "east"], n),
            "converted": (rng.random(n) < 0.2 + effect).astype(int),
            "revenue": rng.lognormal(2, 1, n) + 3 * effect,
            "orders": orders,
        }
    )


def cell(report, metric, segment=None, arm="treatment"):
    return next(r for r in report["results"] if r["metric"] == metric and r["segment"] == segment and r["arm"] == arm)


def no_nan(obj):
    text = json.dumps(obj.to_json(), allow_nan=False)  # raises on NaN / inf
    return "NaN" not in text


def test_sequential_multiplier_and_plan():
    # the half-width at N = tuning depends on alpha only; wider than the fixed-horizon z
    c = seq.planned_multiplier(0.05)
    assert float(seq.multiplier(5000, 0.05, 5000)) == pytest.approx(c)
    assert float(seq.multiplier(123, 0.05, 123)) == pytest.approx(c)
    assert c > stats.norm.ppf(0.975)
    rng = np.random.default_rng(0)
    customers = pd.DataFrame({"cid": [f"c{i}" for i in range(10000)], "tier": rng.choice(["a", "b"], 10000)}).assign(
        conv=(rng.random(10000) < 0.2).astype(int)
    )
    kw = dict(rule='tier != "z"', customer_id="cid", segment="tier", metric="conv", mde=0.02, salt="s")
    _, fixed = plan_experiment(customers, **kw)
    _, plan = plan_experiment(customers, interval="sequential", **kw)
    assert plan["interval"] == "sequential" and fixed["interval"] == "fixed"
    assert plan["n_per_arm_required"]["treatment"] > 1.5 * fixed["n_per_arm_required"]["treatment"]
    assert plan["sequential"]["fixed_horizon_n_per_arm_required"] == fixed["n_per_arm_required"]
    assert plan["sequential"]["tuning"] == plan["n_total_required"]
    # at the planned n the effect sits (c + z_power) standard errors from zero: power 0.8 at the final look
    p0 = plan["baseline"]["mean"]
    h = abs(2 * math.asin(math.sqrt(p0 + 0.02)) - 2 * math.asin(math.sqrt(p0)))
    n = plan["n_per_arm_required"]["treatment"]
    assert stats.norm.cdf(h / math.sqrt(2 / n) - c) == pytest.approx(0.8, abs=0.002)


def test_daily_series_last_day_equals_the_analysis_and_as_of_equals_filtering():
    df = dated(lift=0.03)
    rep = analyze_experiment(df, metrics=["converted", "revenue"], timestamp="ts", **KW)
    assert rep["accrual"]["days"] == 14 and rep["accrual"]["first_day"] == "2026-03-01"
    for metric in ("converted", "revenue"):
        series = next(s for s in rep["daily"] if s["metric"] == metric)
        r = cell(rep, metric)
        assert series["abs_lift"][-1] == pytest.approx(r["abs_lift"], abs=1e-9)
        assert series["fixed_ci"][-1] == pytest.approx(r["abs_ci"], abs=1e-9)
        assert series["sequential_ci"][-1] == pytest.approx(r["sequential"]["abs_ci"], abs=1e-9)
        assert series["n_control"][-1] + series["n_treatment"][-1] == r["n_control"] + r["n_treatment"]
        # cumulative: units never decrease; the sequential interval always contains the fixed one
        assert np.all(np.diff(np.add(series["n_control"], series["n_treatment"])) >= 0)
        for (flo, fhi), (slo, shi) in zip(series["fixed_ci"], series["sequential_ci"]):
            if flo is not None:
                assert slo <= flo and shi >= fhi
    day5 = analyze_experiment(df, metrics=["converted"], timestamp="ts", as_of="2026-03-05", **KW)
    early = df[pd.to_datetime(df.ts) < "2026-03-06"]
    direct = analyze_experiment(early, metrics=["converted"], **KW)
    assert cell(day5, "converted")["p_value"] == pytest.approx(cell(direct, "converted")["p_value"], rel=1e-12)
    q = day5["data_quality"]
    assert q["excluded_rows"]["after_as_of"] == len(df) - len(early) and q["accounted"]
    assert day5["accrual"]["days"] == 5
    # a day-10 series is the first 10 points of the full one
    day10 = analyze_experiment(df, metrics=["converted"], timestamp="ts", as_of="2026-03-10", **KW)
    full = next(s for s in rep["daily"] if s["metric"] == "converted")
    assert day10["daily"][0]["abs_lift"] == pytest.approx(full["abs_lift"][:10])


def test_novelty_flagged_only_when_planted():
    planted = analyze_experiment(
        dated(n=20000, lift=0.1, early_only=True, seed=2), metrics=["converted"], timestamp="ts", **KW
    )
    check = planted["novelty"][0]
    e, late = check["early"], check["late"]
    z = (e["abs_lift"] - late["abs_lift"]) / math.hypot(e["se"], late["se"])
    assert check["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert check["flagged"] and "novelty" in check["verdict"]
    assert any(w.startswith("NOVELTY CHECK") for w in planted["warnings"])
    steady = analyze_experiment(dated(n=20000, lift=0.05, seed=3), metrics=["converted"], timestamp="ts", **KW)
    assert not steady["novelty"][0]["flagged"]


def test_capping_is_the_pooled_percentile():
    df = dated(seed=4)
    rep = analyze_experiment(df, metrics=["revenue"], caps={"revenue": 0.95}, **KW)
    cap = np.quantile(df.revenue, 0.95)
    info = rep["metrics"]["revenue"]["capped"]
    assert info["cap"] == pytest.approx(cap) and info["units_capped"] == int((df.revenue > cap).sum())
    manual = analyze_experiment(df.assign(revenue=df.revenue.clip(upper=cap)), metrics=["revenue"], **KW)
    assert cell(rep, "revenue")["abs_ci"] == pytest.approx(cell(manual, "revenue")["abs_ci"], rel=1e-12)
    assert analyze_experiment(df, metrics=["revenue"], caps=["revenue:0.95"], **KW)["results"] == rep["results"]
    with pytest.raises(RefineError, match="between 0.5 and 1"):
        analyze_experiment(df, metrics=["revenue"], caps={"revenue": 99}, **KW)
    with pytest.raises(RefineError, match="0/1 metric"):
        analyze_experiment(df, metrics=["converted"], caps={"converted": 0.99}, **KW)


def test_heterogeneity_finds_a_planted_opposite_segment():
    df = dated(n=12000, seed=5)
    hurt = (df.segment == "C") & (df.group == "treatment")
    helped = (df.segment != "C") & (df.group == "treatment")
    rng = np.random.default_rng(1)
    df["converted"] = (rng.random(len(df)) < 0.2 + 0.08 * helped - 0.08 * hurt).astype(int)
    rep = analyze_experiment(df, metrics=["converted"], segment="segment", attributes=["region"], **KW)
    tests = {t["column"]: t for t in rep["heterogeneity"]}
    seg = tests["segment"]
    assert seg["differs"] and [lv["level"] for lv in seg["levels"] if lv["opposite"]] == ["C"]
    cells = [cell(rep, "converted", s) for s in ("A", "B", "C")]
    ref = combine_effects(np.array([c["abs_lift"] for c in cells]), np.array([c["se"] ** 2 for c in cells]))
    assert seg["q"] == pytest.approx(ref.q, rel=1e-9) and seg["df"] == 2
    assert seg["p_value"] == pytest.approx(stats.chi2.sf(ref.q, 2))
    assert [seg["p_adjusted"], tests["region"]["p_adjusted"]] == pytest.approx(
        adjust_pvalues([seg["p_value"], tests["region"]["p_value"]], "bh")
    )
    assert not tests["region"]["differs"]
    assert any("segment = C" in w for w in rep["warnings"])
    with pytest.raises(RefineError, match="column 'user' has 12000 distinct values.*--max-levels"):
        analyze_experiment(df, metrics=["converted"], attributes=["user"], **KW)


def test_several_arms_state_the_correction():
    df = dated(n=6000, seed=6, arms=("control", "b", "c"))
    rep = analyze_experiment(df, metrics=["converted", "revenue"], **KW)
    corr = rep["correction"]
    assert corr["treatment_arms"] == 2 and corr["tests"] == 4 and "corrects over the arms" in corr["arms_statement"]
    family = [r for r in rep["results"]]
    assert [r["p_adjusted"] for r in family] == pytest.approx(adjust_pvalues([r["p_value"] for r in family], "bh"))


def test_days_to_go_from_the_plan_and_stop_when_reached():
    df = dated(n=3000, seed=7)
    plan = {"metric": "converted", "n_per_arm_required": {"treatment": 3000, "control": 3000}}
    rep = analyze_experiment(df, metrics=["converted"], timestamp="ts", plan=plan, interval="sequential", **KW)
    r = cell(rep, "converted")
    rate_t, rate_c = r["n_treatment"] / 14, r["n_control"] / 14
    want = max(math.ceil((3000 - r["n_treatment"]) / rate_t), math.ceil((3000 - r["n_control"]) / rate_c))
    assert rep["decision"]["decision"] == "keep testing"
    assert rep["decision"]["headline"] == f"keep running: {want} more days to reach the planned power"
    assert rep["settings"]["sequential_tuning"] == seq.DEFAULT_TUNING  # the plan dict names no total
    small = {"metric": "converted", "n_per_arm_required": {"treatment": 100, "control": 100}}
    done = analyze_experiment(df, metrics=["converted"], timestamp="ts", plan=small, **KW)
    assert done["decision"]["decision"] == "stop" and done["decision"]["headline"] == "don't ship"


@pytest.mark.parametrize("case", ["timestamp", "all_bad_timestamps", "empty_arm", "constant", "zero_denominator"])
def test_bad_input_is_an_error_or_a_stated_exclusion(case):
    df = dated(n=800, seed=8)
    if case == "timestamp":
        df.loc[df.index[:7], "ts"] = "not a date"
        rep = analyze_experiment(df, metrics=["converted"], timestamp="ts", **KW)
        q = rep["data_quality"]
        assert q["excluded_rows"]["missing_or_unreadable_timestamp"] == 7 and q["accounted"]
        assert q["accepted_units"] == 793 and any("'not a date'" in w for w in rep["warnings"])
    elif case == "all_bad_timestamps":
        with pytest.raises(RefineError, match="timestamp column 'ts' holds no readable date"):
            analyze_experiment(df.assign(ts="soon"), metrics=["converted"], timestamp="ts", **KW)
    elif case == "empty_arm":
        # the treatment arm's units were all exposed after the as-of date
        df.loc[df.group == "treatment", "ts"] = "2026-04-01"
        with pytest.raises(RefineError, match="arm 'treatment' has no units left"):
            analyze_experiment(df, metrics=["converted"], timestamp="ts", as_of="2026-03-20", **KW)
    elif case == "constant":
        rep = analyze_experiment(df.assign(flat=0.0), metrics=["converted", "flat"], **KW)
        r = cell(rep, "flat")
        assert r["p_value"] is None and "constant" in r["skipped"] and not r["significant"]
        assert any("'flat' is constant" in w for w in rep["warnings"]) and no_nan(rep)
    else:
        with pytest.raises(RefineError, match="denominator 'zero' is 0 for every unit"):
            analyze_experiment(df.assign(zero=0), metrics=["converted"], ratios=["r=revenue/zero"], **KW)
        half = df.assign(den=np.where(df.group == "control", 0, df.orders))
        rep = analyze_experiment(half, metrics=["converted"], ratios=["r=revenue/den"], **KW)
        r = cell(rep, "r")
        assert r["p_value"] is None and "sums to 0 in control" in r["skipped"] and no_nan(rep)
        assert rep["data_quality"]["zero_denominator"]["r"] == int((half.den == 0).sum())


def test_one_is_binary_and_one_correction():
    assert is_binary(pd.Series([1, 0, None, 1.0])) and is_binary(np.array([True, False]))
    assert not is_binary(pd.Series([0, 2])) and not is_binary(pd.Series([], dtype=float))
    with pytest.raises(RefineError, match="bh or holm"):
        adjust_pvalues([0.1], "sidak")


@pytest.fixture
def cli():
    app = typer.Typer()
    app.add_typer(ab_app, name="ab")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["ab", *map(str, args)])


def test_cli_sequential_with_plan_config_and_report(cli, tmp_path):
    df = dated(n=3000, seed=9, lift=0.04)
    df.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "refine.toml").write_text('[ab]\ninterval = "sequential"\nprior_sd = 0.1\n')
    customers = df[["user", "segment", "converted"]]
    customers.to_csv(tmp_path / "c.csv", index=False)
    res = cli(
        "plan", "--customers", tmp_path / "c.csv", "--rule", 'segment != "Z"', "--customer-id", "user",
        "--segment", "segment", "--metric", "converted", "--mde", "0.04", "--config", tmp_path / "refine.toml",
        "--out", tmp_path / "p",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    plan = json.loads((tmp_path / "p" / "plan.json").read_text())
    assert plan["interval"] == "sequential" and "sequential interval" in res.stdout
    res = cli(
        "analyze", "--data", tmp_path / "d.csv", "--unit", "user", "--arm", "group", "--control", "control",
        "--metrics", "converted,revenue", "--ratio", "rpo=revenue/orders", "--cap", "revenue:0.99",
        "--timestamp", "ts", "--segment", "segment", "--attributes", "region", "--plan", tmp_path / "p" / "plan.json",
        "--config", tmp_path / "refine.toml", "--out", tmp_path / "o",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Sequential (always-valid)" in res.stdout and "chance to beat control" in res.stdout
    rep = json.loads((tmp_path / "o" / "ab_report.json").read_text())
    assert rep["settings"]["interval"] == "sequential" and rep["settings"]["prior"] == {
        "kind": "normal",
        "mean": 0.0,
        "sd": 0.1,
    }
    assert rep["settings"]["sequential_tuning"] == plan["n_total_required"]
    page = (tmp_path / "o" / "ab_report.html").read_text()
    assert page.count("<svg") >= 2 and "Who it helps" in page and "Interval in force" in page
    md = (tmp_path / "o" / "ab_report.md").read_text()
    assert "## Over time" in md and "capped at its 99th percentile" in md and "NaN" not in md
    # a flag beats the config
    res = cli(
        "analyze", "--data", tmp_path / "d.csv", "--unit", "user", "--arm", "group", "--control", "control",
        "--metrics", "converted", "--interval", "fixed", "--config", tmp_path / "refine.toml", "--out", tmp_path / "o2",
    )  # fmt: skip
    assert (
        res.exit_code == 0
        and json.loads((tmp_path / "o2" / "ab_report.json").read_text())["settings"]["interval"] == "fixed"
    )
    for args, message in (
        (["--interval", "weekly"], "fixed or sequential"),
        (["--as-of", "2026-03-03"], "--as-of needs --timestamp"),
        (["--timestamp", "ts", "--as-of", "someday"], "is not a date"),
        (["--plan", tmp_path / "d.csv"], "not a plan.json"),
        (["--ratio", "bad"], "NAME=NUMERATOR/DENOMINATOR"),
    ):
        res = cli(
            "analyze", "--data", tmp_path / "d.csv", "--unit", "user", "--arm", "group", "--control", "control",
            "--metrics", "converted", *args, "--out", tmp_path / "o3",
        )  # fmt: skip
        assert res.exit_code == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.output


def test_old_report_renders(tmp_path):
    """A version-1 report (no sequential, Bayesian, daily or heterogeneity keys) still loads and renders."""
    rep = analyze_experiment(dated(n=500), metrics=["converted"], **KW)
    assert ABReport.from_json(json.loads(json.dumps(rep.to_json()))) == rep
    old = {
        k: v for k, v in rep.to_json().items() if k not in ("interval", "accrual", "daily", "novelty", "heterogeneity")
    }
    old["version"] = 1
    old["settings"] = {k: v for k, v in old["settings"].items() if k != "interval"}
    for r in old["results"]:
        r.pop("sequential", None), r.pop("bayesian", None), r.pop("interval", None)
    old["decision"] = {k: v for k, v in old["decision"].items() if k != "headline"}
    loaded = ABReport.from_json(old)
    assert loaded.daily == [] and loaded.interval is None and loaded.results == old["results"]
    paths = write_ab_report(old, tmp_path)
    assert "Decision" in paths["html"].read_text() and "## Results" in paths["md"].read_text()
    assert json.loads(paths["json"].read_text())["results"] == old["results"]
