"""End to end through the CLI, on generated data: the demo with the real default model; reruns, the stage cache and
the null demo with the hashing embedder (they test plumbing and statistics, not what comments mean)."""

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import use_hashing_model
from typer.testing import CliRunner

from refine.cli.main import app
from refine.run.cycle import OUTPUT_FILES
from refine.segments.rules import apply_rule

runner = CliRunner()
PII = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|(?<![\d.])\b(?:\d[ -]?){13,19}\b(?!\.\d)|555[ .-]?01\d\d")


def refine_run(data: Path, out: Path, *extra: str, config: Path | None = None, customers: Path | None = None):
    """`refine run` on the demo's data (its config and customers unless given), quiet."""
    args = ["run", "--feedback", str(data / "feedback.csv"), "--customers", str(customers or data / "customers.csv")]
    return runner.invoke(
        app, [*args, "--config", str(config or data / "refine.toml"), "--out", str(out), *extra, "--quiet"]
    )


def ab_plan(run_dir: Path, proposal: str, out: Path) -> list[str]:
    """`refine ab plan` arguments: the proposal's customers, churn as the metric, a 5-point effect."""
    where = ["--run", str(run_dir), "--proposal", proposal, "--out", str(out)]
    return ["ab", "plan", *where, "--metric", "churned_90d", "--mde", "0.05"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A smaller company (4,000 customers) run with the hashing embedder, for the tests of reruns and the stage cache:
    they test plumbing (same inputs, same outputs; what is reused), not what comments mean. The real model's
    run is `demo`."""
    out = tmp_path_factory.mktemp("small")
    with pytest.MonkeyPatch.context() as patch:
        use_hashing_model(patch)
        result = runner.invoke(app, ["demo", "--out", str(out), "--seed", "0", "--customers", "4000", "--quiet"])
    assert result.exit_code == 0, result.output
    return out, result


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", "--out", str(out), "--seed", "0", "--quiet"])
    assert result.exit_code == 0, result.output
    return out, result


@pytest.mark.real_model
def test_demo_writes_every_output_and_ends_with_the_report_path(demo):
    out, result = demo
    assert result.output.strip().splitlines()[-1] == str(out / "run" / "report.html")
    for name in OUTPUT_FILES:
        assert (out / "run" / name).stat().st_size > 0, name


@pytest.mark.real_model
def test_every_row_accounted_for(demo):
    out, _ = demo
    manifest = json.loads((out / "run" / "run.json").read_text())
    counts = manifest["counts"]
    raw = pd.read_csv(out / "data" / "feedback.csv", dtype=str, keep_default_na=False)
    assert counts["feedback_in"] == len(raw)
    rejects = pd.read_csv(out / "run" / "rejects.csv", dtype=str)
    feedback = pd.read_parquet(out / "run" / "feedback.parquet")
    assert len(feedback) + (rejects["table"] == "feedback").sum() == len(raw)
    truth = json.loads((out / "data" / "truth.json").read_text())
    assert (rejects["reason"] == "blank text").sum() >= truth["quality"]["blank_text"]


@pytest.mark.real_model
def test_outputs_follow_the_contract(demo):
    out, _ = demo
    feedback = pd.read_parquet(out / "run" / "feedback.parquet")
    assert feedback["sentiment_score"].between(-1, 1).all()
    assert set(feedback["sentiment_label"]) <= {"negative", "neutral", "positive"}
    assert feedback["sentiment_label"].nunique() == 3
    topics = json.loads((out / "run" / "topics.json").read_text())["topics"]
    assert len(topics) >= 3 and all(t["keywords"] and t["quotes"] for t in topics)
    assert (feedback["topic_id"] >= 0).mean() > 0.5
    segments = pd.read_parquet(out / "run" / "segments.parquet")
    assert {"segment", "customers", "respondents", "sentiment_mean", "sentiment_ci_low"} <= set(segments.columns)
    assignments = pd.read_parquet(out / "run" / "assignments.parquet")
    customers = pd.read_csv(out / "data" / "customers.csv", dtype=str)
    assert len(assignments) == len(customers)
    # the Markdown report lists each parent theme on a line of its own, its children with their mentions
    parents = json.loads((out / "run" / "topics.json").read_text())["parents"]
    report = (out / "run" / "report.md").read_text()
    listed = [line for line in report.splitlines() if line.startswith("- **") and " comments)" in line]
    assert len(listed) == len(parents) >= 2 and all(line.count("- **") == 1 for line in listed)
    assert "mentioning" in report


@pytest.mark.real_model
def test_planted_structure_is_found(demo):
    out, _ = demo
    truth = json.loads((out / "data" / "truth.json").read_text())
    proposals = json.loads((out / "run" / "proposals.json").read_text())["proposals"]
    confirmed = [p for p in proposals if p["confirmed"]]
    customers = pd.read_csv(out / "data" / "customers.csv", dtype={"Customer ID": str})
    merges = [sorted(p["segments"]) for p in confirmed if p["kind"] == "merge"]
    assert sorted(truth["merge"][0]["segments"]) in merges
    planted_new = apply_rule(customers, truth["new"][0]["rule"])
    assert any(p["kind"] == "new" and (apply_rule(customers, p["rule"]) == planted_new).all() for p in confirmed)
    planted_split = apply_rule(customers, truth["split"][0]["rule"])
    assert any(
        p["kind"] == "split" and (apply_rule(customers, p["rule"]) & planted_split).sum() >= 0.8 * planted_split.sum()
        for p in confirmed
    )
    for p in proposals:
        assert "churned_90d" not in p["rule"] and "contact_email" not in p["rule"]
        assert p["quotes"] and p["evidence"]
    # quotes say why in the customers' words: the app split's quotes are about the app, although its
    # largest difference is the mean score
    split = next(p for p in confirmed if p["kind"] == "split")
    assert "channel" in split["rule"] and all("app" in q.lower() for q in split["quotes"]), split["quotes"]
    # a merge is quoted on the topic both segments raise most, from both segments
    merge = next(p for p in confirmed if p["kind"] == "merge")
    feedback = pd.read_parquet(out / "run" / "feedback.parquet")
    quoted = [feedback[feedback["text"].str.startswith(q.removesuffix("...")[:120])].iloc[0] for q in merge["quotes"]]
    assert len({row["topic_id"] for row in quoted}) == 1 and quoted[0]["topic_id"] >= 0
    assert {row["segment"] for row in quoted} == set(merge["segments"])


@pytest.mark.real_model
def test_no_personal_data_in_any_output(demo):
    out, _ = demo
    for name in ("report.html", "report.md", "topics.json", "proposals.json"):
        text = (out / "run" / name).read_text()
        assert not PII.search(text), (name, PII.search(text))
    feedback = pd.read_parquet(out / "run" / "feedback.parquet")
    assert not feedback["text"].str.contains(PII).any()
    assert "contact_email" not in (out / "run" / "report.html").read_text()
    stored = list((Path(os.environ["REFINE_CACHE_DIR"]) / "stages").rglob("result.json"))
    assert {p.parts[-4] for p in stored} >= {"topics", "propose"}  # the stage cache holds what the run folder holds
    for path in stored:
        assert not PII.search(path.read_text()), (path, PII.search(path.read_text()))


@pytest.mark.parametrize("reuse", [False, True], ids=["recomputed", "reused"])
def test_rerun_uses_the_cache_and_gives_the_same_proposals(small, hashing_model, tmp_path, reuse):
    out, _ = small
    data = out / "data"
    config = data / "refine.toml"
    if not reuse:  # every stage but embedding computed again: the same inputs and seed must give the same outputs
        text = config.read_text()
        assert text.rstrip().splitlines()[-2] == "[run]"
        config = tmp_path / "refine.toml"
        config.write_text(text + "reuse = false\n")
    result = refine_run(data, tmp_path / "again", config=config)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "again" / "run.json").read_text())
    assert manifest["embedding_cache"]["computed"] == 0
    assert any((Path(os.environ["REFINE_CACHE_DIR"]) / "language").rglob("shard-*.npz"))  # languages kept for reruns
    every = {"ingest": "reused", "topics": "reused", "propose": "reused", "insights": "reused"}
    assert manifest["stage_cache"] == (every if reuse else "off")
    for name in ("proposals.json", "topics.json", "report.md"):
        first, second = ((folder / name).read_text() for folder in (out / "run", tmp_path / "again"))
        if name == "report.md":  # the run's start time is printed in the header, its folder in the A/B commands
            first, second = (re.sub(r"Run of \S+|--run \S+", "", t) for t in (first, second))
        assert second == first, name
    for name in ("feedback.parquet", "segments.parquet", "assignments.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / "run" / name), pd.read_parquet(tmp_path / "again" / name))


def test_null_demo_confirms_nothing(tmp_path, hashing_model):
    """No planted structure, nothing confirmed. This tests the statistics, not what the comments mean, so they are
    embedded by the hashing embedder (no model load); the demo fixture above runs the real model."""
    result = runner.invoke(
        app, ["demo", "--out", str(tmp_path), "--seed", "1", "--null", "--customers", "12000", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    proposals = json.loads((tmp_path / "run" / "proposals.json").read_text())["proposals"]
    assert [p for p in proposals if p["confirmed"]] == []


@pytest.mark.real_model
def test_missing_column_in_config_is_one_line(demo, tmp_path):
    out, _ = demo
    config = (out / "data" / "refine.toml").read_text().replace('text = "Comment Text"', 'text = "Comment"')
    (tmp_path / "refine.toml").write_text(config)
    result = refine_run(out / "data", tmp_path / "run", config=tmp_path / "refine.toml")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "'Comment'" in result.output and "feedback.csv" in result.output


@pytest.mark.real_model
def test_ab_plan_and_decisions_on_the_demo_run(demo, tmp_path):
    out, _ = demo
    proposals = json.loads((out / "run" / "proposals.json").read_text())["proposals"]
    target = next(p for p in proposals if p["kind"] in ("split", "new") and p["confirmed"])
    plan = runner.invoke(app, ab_plan(out / "run", target["id"], tmp_path / "ab"))
    assert plan.exit_code == 0, plan.output
    assignments = pd.read_csv(tmp_path / "ab" / "assignments.csv", dtype=str)
    customers = pd.read_csv(out / "data" / "customers.csv", dtype={"Customer ID": str})
    assert len(assignments) == int(apply_rule(customers, target["rule"]).sum())
    again = runner.invoke(app, ab_plan(out / "run", target["id"], tmp_path / "ab2"))
    assert again.exit_code == 0
    assert (tmp_path / "ab" / "assignments.csv").read_text() == (tmp_path / "ab2" / "assignments.csv").read_text()
    # decisions: accept one, reject another with a reason, and the history shows both
    accepted = runner.invoke(app, ["accept", target["id"], "--run", str(out / "run")])
    assert accepted.exit_code == 0, accepted.output
    other = next(p for p in proposals if p["id"] != target["id"])
    assert runner.invoke(app, ["reject", other["id"], "--run", str(out / "run"), "--reason", "not now"]).exit_code == 0
    history = runner.invoke(app, ["history", str(out)])
    assert "accepted" in history.output and "not now" in history.output
    unknown = runner.invoke(app, ["accept", "nope", "--run", str(out / "run")])
    assert unknown.exit_code == 2 and "no proposal 'nope'" in unknown.output


@pytest.mark.real_model
def test_a_crafted_rule_on_disk_cannot_run_code(demo, tmp_path):
    out, _ = demo
    run = tmp_path / "run"
    import shutil

    shutil.copytree(out / "run", run)
    doc = json.loads((run / "proposals.json").read_text())
    marker = tmp_path / "pwned"
    doc["proposals"][0]["rule"] = f'__import__("os").system("touch {marker}")'
    (run / "proposals.json").write_text(json.dumps(doc))
    pid = doc["proposals"][0]["id"]
    # the run's rule digest refuses the edited proposal first; a run written before digests (none in run.json)
    # reaches the rule parser, which refuses the call
    manifest = json.loads((run / "run.json").read_text())
    for refusals in (("proposals.json was edited after the run", "function call is not allowed"), ("function call",)):
        for args in (
            ab_plan(run, pid, tmp_path / "ab"),
            ["accept", pid, "--run", str(run)],
        ):
            result = runner.invoke(app, args)
            assert result.exit_code == 2 and any(r in result.output for r in refusals), result.output
        manifest.pop("rule_digests", None)
        (run / "run.json").write_text(json.dumps(manifest))
    assert not marker.exists()


@pytest.mark.real_model
def test_next_cycle_keeps_topic_ids_and_applies_accepted_proposals(demo, tmp_path):
    import shutil

    out, _ = demo
    last = tmp_path / "last"
    shutil.copytree(out / "run", last)
    proposals = json.loads((last / "proposals.json").read_text())["proposals"]
    merge = next(p for p in proposals if p["kind"] == "merge" and p["confirmed"])
    assert runner.invoke(app, ["accept", merge["id"], "--run", str(last)]).exit_code == 0
    data = out / "data"
    result = refine_run(data, tmp_path / "next", "--previous", str(last))
    assert result.exit_code == 0, result.output
    before = json.loads((last / "topics.json").read_text())["topics"]
    after = json.loads((tmp_path / "next" / "topics.json").read_text())["topics"]
    assert {t["id"]: t["label"] for t in after} == {t["id"]: t["label"] for t in before}
    assert all(t["status"] == "stable" for t in after)
    segments = pd.read_parquet(tmp_path / "next" / "segments.parquet")["segment"].tolist()
    assert " + ".join(merge["segments"]) in segments
    assert not set(merge["segments"]) & set(segments)
    manifest = json.loads((tmp_path / "next" / "run.json").read_text())
    assert manifest["applied_decisions"][0]["proposal"] == merge["id"]
    assert "Since the previous cycle" in (tmp_path / "next" / "report.html").read_text()


def test_a_changed_customer_reruns_the_proposal_search_but_not_the_topic_fit(small, hashing_model, tmp_path):
    out, _ = small
    data = out / "data"
    customers = pd.read_csv(data / "customers.csv", dtype=str, keep_default_na=False)
    customers.loc[0, "region"] = "south" if customers.loc[0, "region"] != "south" else "north"
    customers.to_csv(tmp_path / "customers.csv", index=False)
    result = refine_run(data, tmp_path / "run", customers=tmp_path / "customers.csv")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["stage_cache"] == {
        "ingest": "computed",
        "topics": "reused",
        "propose": "computed",
        "insights": "computed",
    }


@pytest.mark.real_model
def test_proposals_say_what_they_share_and_score_in_nps(demo):
    """Overlapping proposals say so, assignments settle them as documented, and the score reads as NPS."""
    out, _ = demo
    proposals = json.loads((out / "run" / "proposals.json").read_text())["proposals"]
    customers = pd.read_csv(out / "data" / "customers.csv", dtype={"Customer ID": str})
    feedback = pd.read_parquet(out / "run" / "feedback.parquet")
    assignments = pd.read_parquet(out / "run" / "assignments.parquet")
    masks = {p["id"]: apply_rule(customers, p["rule"]).to_numpy() for p in proposals}
    ranks = {p["id"]: p["rank"] for p in proposals}
    shared_any = False
    for p in proposals:
        for o in p["overlaps"]:
            assert o["customers"] == int((masks[p["id"]] & masks[o["proposal"]]).sum()) > 0
            assert o["rank"] == ranks[o["proposal"]]
            shared_any = True
    assert shared_any  # the demo's new segment (north) cuts across the merged and the split segments
    new = next(p for p in proposals if p["kind"] == "new")
    in_new = masks[new["id"]]
    assert (assignments["proposed_segment"][in_new] == f"New: {new['rule']}").all()
    split = next(p for p in proposals if p["kind"] == "split")
    assert split["evidence"]["in_new_segments"] == int((masks[split["id"]] & in_new).sum())
    # the score gap is NPS over answers: %promoters - %detractors, recomputed here from the run's files
    by_customer = dict(zip(customers["Customer ID"], masks[split["id"]]))
    in_segment = dict(zip(customers["Customer ID"], customers["Segment"] == split["segments"][0]))
    said = feedback["customer_id"].map(by_customer).fillna(False).astype(bool)
    same_segment = feedback["customer_id"].map(in_segment).fillna(False).astype(bool)

    def nps(scores):
        scores = scores.dropna()
        return 100 * ((scores >= 9).mean() - (scores <= 6).mean())

    gap = split["score_gap"]
    assert gap["kind"] == "nps" and gap["n_group"] == int(feedback["score"][said].notna().sum())
    assert gap["group_value"] == pytest.approx(nps(feedback["score"][said]), abs=1e-4)
    assert gap["rest_value"] == pytest.approx(nps(feedback["score"][same_segment & ~said]), abs=1e-4)
    assert gap["ci_low"] < gap["diff"] < gap["ci_high"] < 0  # the app users are far less likely to recommend
    report = (out / "run" / "report.md").read_text()
    assert "NPS" in report and "0.0000" not in report and "Overlaps:" in report
