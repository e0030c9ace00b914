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
    assert forced.exit_code == 0 and "not confirmed: accepted with --force" in forced.output
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


def _three_alike(seed: int, n: int = 15000):
    """A company where B, C and D do and say the same things and A differs (a planted three-way merge)."""
    import numpy as np
    from test_propose import churn_config, feedback_of

    rng = np.random.default_rng(seed)
    segments = rng.choice(["A", "B", "C", "D"], size=n, p=[0.25, 0.25, 0.25, 0.25])
    churn = rng.random(n) < np.where(segments == "A", 0.05, 0.15)
    customers = pd.DataFrame(
        {
            "Customer ID": [f"C{i:05d}" for i in range(n)],
            "Segment": segments,
            "region": rng.choice(["north", "south"], size=n),
            "churned": churn.astype(float),
        }
    )
    said = np.flatnonzero(rng.random(n) < 0.4)
    sentiment = np.clip(np.where(segments[said] == "A", 0.5, 0.0) + rng.normal(0, 0.45, len(said)), -1, 1)
    feedback = feedback_of(customers, said, sentiment, rng)
    config = churn_config()
    return customers, feedback, config


@pytest.mark.parametrize("seed", [0, 1])
def test_pairwise_merges_of_three_segments_become_one_merge_tested_as_a_whole(seed):
    from refine.segments.profiles import respondents_table
    from refine.segments.propose import propose
    from refine.wording import proposal_headline

    customers, feedback, config = _three_alike(seed)
    labels = {0: "price", 1: "app", 2: "delivery", 3: "staff"}
    result = propose(
        customers,
        feedback,
        respondents_table(feedback, sorted(labels)),
        config,
        rule_columns=["Segment", "region"],
        topic_labels=labels,
        seed=seed,
    )
    merges = [p for p in result.proposals if p.kind == "merge" and p.confirmed]
    assert [p.segments for p in merges] == [["B", "C", "D"]]
    merge = merges[0]
    assert merge.rule == 'Segment in ["B", "C", "D"]'
    assert proposal_headline(merge).startswith("Merge “B”, “C” and “D”:")
    assert merge.quotes  # comments on the topic all three raise, taking turns between them
    pairs = merge.evidence.holdout["pairs"]  # every pair of the group, each under alpha
    assert sorted(tuple(p["segments"]) for p in pairs) == [("B", "C"), ("B", "D"), ("C", "D")]
    assert max(p["p"] for p in pairs) == merge.evidence.holdout_q < config.proposals.alpha
    family = result.method.families["merge"]
    assert family["groups"][0]["segments"] == ["B", "C", "D"] and family["groups"][0]["confirmed"]
    assert "intersection-union test over every pair" in family["group_test"]
    # no other proposal merges any of them: the proposals state one segmentation
    assert not [
        p for p in result.proposals if p.kind == "merge" and p is not merge and set(p.segments) & {"B", "C", "D"}
    ]


def test_a_group_that_fails_as_a_whole_falls_back_to_the_best_disjoint_pairs():
    from types import SimpleNamespace

    from refine.segments.merges import group_merges

    def pair(a, b, q):
        extra = {"confirmed": True, "holdout_q": q, "tests": {"distance": q}, "holdout_tests": {"p": q}}
        return SimpleNamespace(kind="merge", segments=[a, b], extra=extra)

    ab, bc, cd = pair("A", "B", 0.002), pair("B", "C", 0.01), pair("C", "D", 0.03)
    tested = []

    def test_pair(a, b):  # A-C, A-D and B-D were not chosen by the search: tested here; A and D differ
        tested.append((a, b))
        return {"p": 0.4 if "D" in (a, b) else 0.01, "why_not": "churned differs" if "D" in (a, b) else None}

    out, records = group_merges([ab, bc, cd], test_pair, lambda g, e: SimpleNamespace(segments=g, extra=e), 0.05)
    assert sorted(tested) == [("A", "C"), ("A", "D"), ("B", "D")]
    assert records[0]["segments"] == ["A", "B", "C", "D"] and not records[0]["confirmed"]
    assert out == [ab, bc, cd]  # no group proposal; the pairs stay, resolved
    # the strongest pair first (A-B), then each pair that shares no segment with a kept one (C-D)
    assert ab.extra["confirmed"] and cd.extra["confirmed"] and not bc.extra["confirmed"]
    assert "failed as a whole" in ab.extra["group_note"] and "kept as a pair" in cd.extra["group_note"]
    assert "overlaps the stronger merge of A and B" in bc.extra["why_not"] and "churned differs" in bc.extra["why_not"]


def test_a_pair_that_overlaps_a_stronger_merge_is_listed_as_stopped_not_as_a_proposal():
    """Four segments in a chain (churn 5%, 10%, 15%, 20%): each neighbour pair is within the margin, the ends
    are not, so the group fails as a whole; the pairs it keeps are proposals, the overlapping rest is stopped."""
    import numpy as np
    from test_propose import churn_config, feedback_of

    from refine.segments.profiles import respondents_table
    from refine.segments.propose import propose

    rng = np.random.default_rng(3)
    n = 40000
    segments = rng.choice(["A", "B", "C", "D"], size=n)
    churn = rng.random(n) < pd.Series(segments).map({"A": 0.05, "B": 0.10, "C": 0.15, "D": 0.20}).to_numpy()
    customers = pd.DataFrame(
        {"Customer ID": [f"C{i:05d}" for i in range(n)], "Segment": segments, "churned": churn.astype(float)}
    )
    said = np.flatnonzero(rng.random(n) < 0.4)
    feedback = feedback_of(customers, said, np.clip(rng.normal(0, 0.45, len(said)), -1, 1), rng)
    labels = {0: "price", 1: "app", 2: "delivery", 3: "staff"}
    config = churn_config()
    result = propose(
        customers,
        feedback,
        respondents_table(feedback, sorted(labels)),
        config,
        rule_columns=["Segment"],
        topic_labels=labels,
        seed=0,
    )
    group = result.method.families["merge"]["groups"][0]
    assert group["segments"] == ["A", "B", "C", "D"] and not group["confirmed"]
    merges = [p for p in result.proposals if p.kind == "merge"]
    assert merges and all(p.confirmed for p in merges)
    taken = [s for p in merges for s in p.segments]
    assert len(taken) == len(set(taken))  # the proposals state one segmentation
    overlapped = [s for s in result.stopped if s.stopped_by == "overlaps a stronger merge"]
    assert overlapped
    for s in overlapped:
        assert set(s.segments) & set(taken) and "overlaps the stronger merge of" in s.detail
        record = s.to_json()
        assert set(record["overlapped_by"]) <= set(taken) and 0 <= record["holm_p"] < config.proposals.alpha
        assert not any(p.rule == s.rule for p in result.proposals)
