"""refine assign: accepted proposals applied to a fresh customer table, conflicts resolved in the documented order."""

import json

import pandas as pd
from typer.testing import CliRunner

from refine.cli.main import app

CONFIG = {
    "feedback": {"customer_id": "Customer ID", "text": "Comment Text"},
    "customers": {"customer_id": "Customer ID", "segment": "Segment", "outcomes": ["churned"]},
}
PROPOSALS = [
    {
        "id": "split-1",
        "rank": 1,
        "kind": "split",
        "segments": ["Loyal"],
        "rule": 'Segment == "Loyal" and channel == "app"',
    },
    {"id": "new-2", "rank": 2, "kind": "new", "segments": ["Loyal", "At Risk"], "rule": 'region == "north"'},
    {
        "id": "merge-3",
        "rank": 3,
        "kind": "merge",
        "segments": ["At Risk", "Lost"],
        "rule": 'Segment in ["At Risk", "Lost"]',
    },
    {
        "id": "split-4",
        "rank": 4,
        "kind": "split",
        "segments": ["Lost"],
        "rule": 'Segment == "Lost" and channel == "web"',
    },
]


def make_run(tmp_path, accepted):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"refine_version": "0.2.0", "started": "2026-11-01", "config": CONFIG}))
    (run / "proposals.json").write_text(json.dumps({"proposals": PROPOSALS}))
    decisions = [{"proposal": p, "decision": "accepted", "rule": "", "reason": ""} for p in accepted]
    (run / "decisions.json").write_text(json.dumps({"decisions": decisions}))
    return run


CUSTOMERS = (
    "Customer ID,Segment,region,channel,churned\n"
    "C1,Loyal,north,app,0\n"  # split-1 and new-2: the new segment wins
    "C2,Loyal,south,app,0\n"  # split-1 only
    "C3,At Risk,north,web,1\n"  # new-2 and merge-3: the new segment wins
    "C4,Lost,south,web,0\n"  # merge-3 (split-4 of a merged segment conflicts with it: never accepted together)
    "C5,Champions,south,web,0\n"  # no rule: keeps the segment
    "C5,Champions,south,web,0\n"  # duplicate id: rejected, counted
    "=HYPERLINK(1),Loyal,south,web,0\n"  # a formula-looking id is still the CRM's key: written as it is
)


def test_assign_resolves_conflicts_in_the_documented_order(tmp_path):
    run = make_run(tmp_path, ["split-1", "new-2", "merge-3"])
    (tmp_path / "crm.csv").write_text(CUSTOMERS)
    out = tmp_path / "assigned.csv"
    result = CliRunner().invoke(
        app, ["assign", "--run", str(run), "--customers", str(tmp_path / "crm.csv"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "2 matched by more than one accepted rule" in result.output and "1 rows rejected" in result.output
    frame = pd.read_csv(out, dtype=str).set_index("Customer ID")
    assert frame.loc["C1", "new_segment"] == 'New: region == "north"' and frame.loc["C1", "decided_by"] == "new-2"
    assert frame.loc["C2", "new_segment"] == 'Loyal (channel == "app")'
    assert frame.loc["C3", "new_segment"] == 'New: region == "north"'
    assert frame.loc["C4", "new_segment"] == "At Risk + Lost" and frame.loc["C4", "decided_by"] == "merge-3"
    assert frame.loc["C5", "new_segment"] == "Champions" and frame.loc["C5", "changed"] == "False"
    assert frame.loc["C1", "rules_matched"] == "2" and frame.loc["C5", "rules_matched"] == "0"
    assert "=HYPERLINK(1)" in frame.index  # a key leaves as it came (docs/troubleshooting.md: open it as text)
    rejects = pd.read_csv(tmp_path / "assigned.rejects.csv")
    assert rejects["reason"].tolist() == ["duplicate customer id"]


def test_assign_without_accepted_proposals_keeps_every_segment(tmp_path):
    run = make_run(tmp_path, [])
    (tmp_path / "crm.csv").write_text(CUSTOMERS)
    out = tmp_path / "assigned.csv"
    result = CliRunner().invoke(
        app, ["assign", "--run", str(run), "--customers", str(tmp_path / "crm.csv"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str)
    assert (frame["segment"] == frame["new_segment"]).all() and "applied: none" in result.output


def test_assign_refuses_a_table_the_rules_cannot_read(tmp_path):
    run = make_run(tmp_path, ["new-2"])
    (tmp_path / "crm.csv").write_text("Customer ID,Segment\nC1,Loyal\n")
    result = CliRunner().invoke(
        app, ["assign", "--run", str(run), "--customers", str(tmp_path / "crm.csv"), "--out", str(tmp_path / "a.csv")]
    )
    assert result.exit_code == 2 and "new-2" in result.output and "Traceback" not in result.output
