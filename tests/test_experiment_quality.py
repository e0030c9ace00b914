"""A/B analysis that cannot mislead: a primary metric with no values stops, a misspelled arm is left out (or mapped
with --arm-map) and named, the sample-ratio check says what it left out."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from refine.cli.main import app
from refine.errors import RefineError
from refine.experiment import analyze_experiment, write_ab_report
from refine.experiment.data import edit_distance, resembles

PLAN = {"arms": {"control": 500, "treatment": 500}, "n_per_arm_required": {"control": 400, "treatment": 400}}


def results(n=1000, seed=0, typo="contrl", typo_rows=6):
    """One row per user; the first ``typo_rows`` rows carry the arm label ``typo``; ids keep their zeros."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "user": [f"{i:05d}" for i in range(n)],
            "group": rng.choice(["control", "treatment"], n),
            "converted": (rng.random(n) < 0.2).astype(int),
            "revenue": rng.gamma(2, 10, n),
        }
    )
    frame.loc[: typo_rows - 1, "group"] = typo
    return frame


def analyze(frame, metrics=("converted",), **kw):
    return analyze_experiment(frame, unit="user", arm="group", control="control", metrics=list(metrics), **kw)


def test_edit_distance_and_what_reads_as_a_misspelling():
    assert edit_distance("contrl", "control") == 1
    assert edit_distance("tretament", "treatment") == 1  # a transposition is one edit
    assert edit_distance("ctrl", "control") == 3
    arms = ["control", "treatment"]
    assert resembles("contrl", arms) == "control" and resembles("Treatmnt", arms) == "treatment"
    assert resembles(" CONTROL ", arms) == "control"  # case and spaces
    assert resembles("holdout", arms) is None and resembles("ctrl", arms) is None
    # short arm names: one edit turns an arm into another arm, so only case and spaces count
    assert resembles("C", ["A", "B"]) is None and resembles("b", ["A", "B"]) == "B"
    assert resembles("v3", ["v1", "v2"]) is None and resembles("tset", ["test"]) == "test"


def test_a_misspelled_arm_is_left_out_counted_and_named(tmp_path):
    frame = results()
    rep = analyze(frame)
    assert rep["settings"]["treatments"] == ["treatment"]  # not a third arm
    warning = next(w for w in rep["warnings"] if "'contrl'" in w)
    assert "6 rows" in warning and "'control'" in warning and "--arm-map contrl=control" in warning
    q = rep["data_quality"]
    assert q["excluded_rows"]["stray_arm_label"] == 6 and q["accounted"] and q["input_rows"] == 1000
    assert q["arm_labels"]["left_out"] == [
        {"label": "contrl", "rows": 6, "units": 6, "share": 0.006, "resembles": "control"}
    ]
    # the sample-ratio check runs on the arms analysed, and says what it left out
    kept = frame.iloc[6:]
    counts = kept.group.value_counts()
    assert rep["srm"]["arms"] == ["control", "treatment"]
    assert rep["srm"]["p_value"] == pytest.approx(stats.chisquare([counts["control"], counts["treatment"]]).pvalue)
    assert rep["srm"]["left_out"] == [{"label": "contrl", "rows": 6, "units": 6}]
    # the rows themselves, ids as they came in, with the reason
    paths = write_ab_report(rep, tmp_path)
    rejects = pd.read_csv(paths["rejects"], dtype=str)
    assert rejects["user"].tolist() == frame["user"][:6].tolist() and rejects["data_row"].tolist() == list("123456")
    assert rejects["reason"].str.contains("misspelling of 'control'").all()
    md = paths["md"].read_text()
    assert "Arm label 'contrl' left out (looks like 'control'): 6 rows" in md
    assert "Left out of this check and of the analysis: 'contrl' (6 rows)" in md
    assert "'contrl' (6 rows)" in paths["html"].read_text().replace("&#39;", "'")


def test_arm_map_counts_the_label_as_the_arm():
    frame = results()
    rep = analyze(frame, arm_map=["contrl=control"])
    fixed = frame.assign(group=frame.group.replace("contrl", "control"))
    direct = analyze(fixed)
    assert rep["results"] == direct["results"] and rep["srm"]["observed"] == direct["srm"]["observed"]
    assert rep["data_quality"]["arm_labels"]["mapped"] == [{"label": "contrl", "to": "control", "rows": 6}]
    assert not any("contrl" in w for w in rep["warnings"]) and rep.rejects.empty
    # comma separated and a dict say the same
    two = results().assign(group=lambda f: f.group.where(f.index != 7, "tretment"))
    assert (
        analyze(two, arm_map=["contrl=control,tretment=treatment"])["srm"]["observed"]
        == analyze(two, arm_map={"contrl": "control", "tretment": "treatment"})["srm"]["observed"]
    )


@pytest.mark.parametrize(
    "arm_map, message",
    [
        (["contrl=contol"], "maps 'contrl' to 'contol', which is not a known arm"),
        (["ctl=control"], "--arm-map names 'ctl', which is not a value of column 'group'"),
        (["contrl"], "must be LABEL=ARM"),
    ],
)
def test_arm_map_is_checked(arm_map, message):
    with pytest.raises(RefineError, match=message):
        analyze(results(), arm_map=arm_map)


def test_a_rare_label_near_no_arm_stays_an_arm_unless_the_plan_says_otherwise():
    frame = results(typo="zebra")
    rep = analyze(frame)
    assert rep["settings"]["treatments"] == ["treatment", "zebra"]
    assert any("arm 'zebra' holds only 6 units (0.6%)" in w for w in rep["warnings"])
    assert rep["data_quality"]["excluded_rows"]["stray_arm_label"] == 0
    # with a plan, the arms are known: a label it never assigned is left out
    planned = analyze(frame, plan=PLAN)
    assert planned["settings"]["treatments"] == ["treatment"]
    assert any("the plan never assigned" in w for w in planned["warnings"])
    assert planned.rejects["reason"].str.contains("not an arm of the plan").all() and len(planned.rejects) == 6
    # an arm held by 1% of units or more is an arm, however it is spelled
    big = analyze(results(typo="contrl", typo_rows=60))
    assert big["settings"]["treatments"] == ["contrl", "treatment"]


def test_a_primary_metric_with_no_values_stops_and_a_secondary_one_is_named(tmp_path):
    frame = results().assign(nps=np.nan)
    with pytest.raises(RefineError, match="primary metric 'nps' has no value for any unit"):
        analyze(frame, metrics=["nps", "converted"])
    rep = analyze(frame, metrics=["converted", "nps"], guardrails=["revenue"])
    assert any("secondary metric 'nps' has no value for any unit" in w for w in rep["warnings"])
    assert rep["data_quality"]["metrics_without_values"] == ["nps"]
    cells = [r for r in rep["results"] if r["metric"] == "nps"]
    assert cells and all(r["skipped"] == "no value for any unit: not tested" for r in cells)
    md = write_ab_report(rep, tmp_path)["md"].read_text()
    assert "- nps has no value for any unit: it is not tested." in md
    guard = analyze(frame, metrics=["converted"], guardrails=["nps"])
    assert any("guardrail 'nps' has no value" in w for w in guard["warnings"])


def test_cli_names_the_file_and_keeps_warnings_on_stderr(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results().to_csv("data.csv", index=False)
    pd.DataFrame({"user": results()["user"], "nps": np.nan}).to_csv("outcomes.csv", index=False)
    base = ["ab", "analyze", "--data", "data.csv", "--unit", "user", "--arm", "group", "--control", "control"]
    runner = CliRunner()
    res = runner.invoke(app, [*base, "--outcomes", "outcomes.csv", "--metrics", "nps", "--out", "o"])
    assert res.exit_code == 2 and res.stderr.strip().splitlines() == [
        "error: primary metric 'nps' has no value for any unit (column 'nps' in outcomes file outcomes.csv has no "
        "values); nothing can be decided: check the export or the column name"
    ]
    res = runner.invoke(app, [*base, "--metrics", "converted", "--out", "o"])
    assert res.exit_code == 0, res.output
    assert "6 with a stray arm label" in res.stdout and "warning: arm 'contrl'" in res.stderr
    assert (tmp_path / "o" / "ab_rejects.csv").exists()
    # a rerun into the same folder replaces it: --force (refine never overwrites without it)
    res = runner.invoke(app, [*base, "--metrics", "converted", "--arm-map", "contrl=control", "--out", "o", "--force"])
    assert res.exit_code == 0 and "contrl" not in res.stderr
    report = json.loads((tmp_path / "o" / "ab_report.json").read_text())
    assert report["srm"]["observed"] == [
        int((results().group != "treatment").sum()),
        int((results().group == "treatment").sum()),
    ]
    assert len(pd.read_csv(tmp_path / "o" / "ab_rejects.csv")) == 0  # a rerun leaves no stale rejects
