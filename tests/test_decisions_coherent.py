"""Decisions stay coherent (issue 28, point 4): accepted proposals state one segmentation.

Conflicting acceptances are refused with both named, an unconfirmed proposal needs --force and says why,
a proposal edited after the run (run.json's digest) is refused, and assignments.parquet keeps every
confirmed proposal.
"""

import json

import pandas as pd
import pytest
from conftest import use_hashing_model
from typer.testing import CliRunner

from refine.cli.main import app
from refine.io.runs import proposal_digest
from refine.segments.rules import apply_rule

runner = CliRunner()
CONFIG = {
    "feedback": {"customer_id": "Customer ID", "text": "Comment Text"},
    "customers": {"customer_id": "Customer ID", "segment": "Segment", "outcomes": ["churned"]},
}


def _merge(pid, rank, segments, confirmed=True):
    rule = "Segment in [" + ", ".join(f'"{s}"' for s in segments) + "]"
    return {"id": pid, "rank": rank, "kind": "merge", "segments": segments, "rule": rule, "confirmed": confirmed}


PROPOSALS = [
    _merge("merge-bg", 1, ["Bronze", "Gold"]),
    _merge("merge-bp", 2, ["Bronze", "Platinum"]),
    {
        "id": "split-g",
        "rank": 3,
        "kind": "split",
        "segments": ["Gold"],
        "rule": 'Segment == "Gold" and channel == "app"',
        "confirmed": True,
    },
    {
        "id": "new-n",
        "rank": 4,
        "kind": "new",
        "segments": ["Bronze", "Gold"],
        "rule": 'region == "north"',
        "confirmed": True,
    },
    dict(
        _merge("merge-sx", 5, ["Silver", "Tin"], confirmed=False),
        evidence={"status": "not confirmed", "why_not": "not shown equivalent on the holdout: churned (differs)"},
    ),
    {
        "id": "split-t",
        "rank": 6,
        "kind": "split",
        "segments": ["Tin"],
        "rule": 'Segment == "Tin" and channel == "web"',
        "confirmed": False,
        "evidence": {"holdout_q": 0.31},
    },
]


def make_run(tmp_path, decisions=(), digests=True):
    run = tmp_path / "run"
    run.mkdir()
    manifest = {"refine_version": "0.3.1", "started": "2026-11-01", "config": CONFIG}
    if digests:
        manifest["rule_digests"] = {
            p["id"]: proposal_digest(p["id"], p["kind"], p["segments"], p["rule"]) for p in PROPOSALS
        }
    (run / "run.json").write_text(json.dumps(manifest))
    (run / "proposals.json").write_text(json.dumps({"proposals": PROPOSALS}))
    if decisions:
        records = [{"proposal": p, "decision": "accepted", "rule": "", "reason": ""} for p in decisions]
        (run / "decisions.json").write_text(json.dumps({"decisions": records}))
    return run


def accept(run, pid, *extra):
    return runner.invoke(app, ["accept", pid, "--run", str(run), *extra])


def test_two_merges_sharing_a_segment_are_refused_with_both_named(tmp_path):
    run = make_run(tmp_path)
    assert accept(run, "merge-bg").exit_code == 0
    second = accept(run, "merge-bp")
    assert second.exit_code == 2 and second.output.strip().count("\n") == 0
    assert "merge-bp" in second.output and "merge-bg" in second.output and "'Bronze'" in second.output
    decisions = json.loads((run / "decisions.json").read_text())["decisions"]
    assert [d["proposal"] for d in decisions] == ["merge-bg"]  # nothing recorded for the refused one
    # a merge and a split of one of its segments conflict; a NEW segment across them does not
    split = accept(run, "split-g")
    assert split.exit_code == 2 and "merge-bg" in split.output and "'Gold'" in split.output
    assert accept(run, "new-n").exit_code == 0
    # rejecting the first makes room for the second
    assert runner.invoke(app, ["reject", "merge-bg", "--run", str(run), "--reason", "too broad"]).exit_code == 0
    assert accept(run, "merge-bp").exit_code == 0


def test_an_unconfirmed_proposal_needs_force_and_the_error_says_why(tmp_path):
    run = make_run(tmp_path)
    refused = accept(run, "merge-sx")
    assert refused.exit_code == 2 and refused.output.strip().count("\n") == 0
    assert "not confirmed" in refused.output and "not shown equivalent on the holdout" in refused.output
    assert "--force" in refused.output and not (run / "decisions.json").exists()
    split = accept(run, "split-t")
    assert split.exit_code == 2 and "did not hold on the holdout (q = 0.31)" in split.output
    forced = accept(run, "merge-sx", "--force")
    assert forced.exit_code == 0 and "not confirmed on the holdout" in forced.output
    # --force never overrides a conflict
    clash = accept(run, "split-t", "--force")
    assert clash.exit_code == 2 and "merge-sx" in clash.output and "'Tin'" in clash.output


def test_conflicting_decisions_already_on_disk_are_refused_by_assign(tmp_path):
    """decisions.json from an older refine (or written by hand) holding two merges that share a segment."""
    run = make_run(tmp_path, decisions=["merge-bg", "merge-bp"], digests=False)
    (tmp_path / "crm.csv").write_text("Customer ID,Segment,region,channel\nC1,Bronze,north,app\nC2,Gold,south,web\n")
    out = tmp_path / "assigned.csv"
    result = runner.invoke(
        app, ["assign", "--run", str(run), "--customers", str(tmp_path / "crm.csv"), "--out", str(out)]
    )
    assert result.exit_code == 2 and "merge-bp" in result.output and "merge-bg" in result.output
    assert "'Bronze'" in result.output and not out.exists()


def test_a_hand_edited_rule_is_refused_by_accept_and_assign(tmp_path):
    run = make_run(tmp_path, decisions=["new-n"])
    doc = json.loads((run / "proposals.json").read_text())
    doc["proposals"][3]["rule"] = 'region == "south"'
    (run / "proposals.json").write_text(json.dumps(doc))
    (tmp_path / "crm.csv").write_text("Customer ID,Segment,region,channel\nC1,Bronze,north,app\n")
    assign = runner.invoke(
        app,
        ["assign", "--run", str(run), "--customers", str(tmp_path / "crm.csv"), "--out", str(tmp_path / "a.csv")],
    )
    assert assign.exit_code == 2 and "proposals.json was edited after the run" in assign.output
    assert "new-n" in assign.output and not (tmp_path / "a.csv").exists()
    result = accept(run, "new-n")
    assert result.exit_code == 2 and "proposals.json was edited after the run: proposal new-n" in result.output
    # a proposal added by hand is not one the run found either
    doc["proposals"].append(dict(doc["proposals"][2], id="split-added"))
    (run / "proposals.json").write_text(json.dumps(doc))
    added = accept(run, "split-added")
    assert added.exit_code == 2 and "is not one the run wrote" in added.output


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """The demo company (4,000 customers) with the hashing embedder: the run folder's plumbing, not meaning."""
    out = tmp_path_factory.mktemp("coherent")
    with pytest.MonkeyPatch.context() as patch:
        use_hashing_model(patch)
        result = runner.invoke(app, ["demo", "--out", str(out), "--seed", "0", "--customers", "4000", "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def test_the_run_records_a_digest_per_proposal_and_assignments_keep_every_confirmed_one(small_run, tmp_path):
    run = small_run / "run"
    proposals = json.loads((run / "proposals.json").read_text())["proposals"]
    digests = json.loads((run / "run.json").read_text())["rule_digests"]
    assert digests == {p["id"]: proposal_digest(p["id"], p["kind"], p["segments"], p["rule"]) for p in proposals}
    confirmed = [p for p in proposals if p["confirmed"]]
    assert confirmed
    assignments = pd.read_parquet(run / "assignments.parquet")
    customers = pd.read_csv(small_run / "data" / "customers.csv", dtype={"Customer ID": str})
    for p in confirmed:  # every confirmed proposal holds customers in "if every confirmed proposal were accepted"
        mask = apply_rule(customers, p["rule"]).to_numpy()
        if p["kind"] == "merge":
            assert (assignments["proposed_segment"] == " + ".join(p["segments"])).any(), p["id"]
        elif p["kind"] == "split":
            assert assignments["proposed_segment"][mask].str.startswith(p["segments"][0] + " (").any(), p["id"]
        else:
            assert (assignments["proposed_segment"][mask] == f"New: {p['rule']}").all(), p["id"]


def test_a_split_inside_a_higher_ranked_merge_keeps_its_customers():
    """ "If every proposal were accepted" never drops one: the split's subgroup stays whole inside the merge."""
    from refine.io.config import config_from_dict
    from refine.segments.propose import proposed_assignments

    customers = pd.DataFrame(
        {
            "Customer ID": ["1", "2", "3", "4"],
            "Segment": ["Bronze", "Gold", "Gold", "Silver"],
            "channel": ["app", "app", "web", "app"],
            "region": ["south", "south", "south", "south"],
        }
    )
    out = proposed_assignments(customers, PROPOSALS[:1] + PROPOSALS[2:3], config_from_dict(CONFIG))
    assert out["proposed_segment"].tolist() == ["Bronze + Gold", 'Gold (channel == "app")', "Bronze + Gold", "Silver"]
