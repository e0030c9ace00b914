"""Issue 28 point 5: month over month compares like with like.

A real two-month cycle on a planted company (hashing embedder): month 1, accept its split and its merge,
then month 2 twice with --previous: on the same customer table (refine applies the accepted rules) and on
the table re-exported from the CRM that already carries the accepted segments (refine must not apply them
again). Month 2 has the same feedback as month 1, so every like-with-like sentiment shift is exactly 0,
while the old by-name comparison saw the split's parent segment move.
"""

import inspect
import shutil
from pathlib import Path

import pandas as pd
import pytest

from refine.demo.company import generate_company, write_demo_data
from refine.insights.followup import CUSTOMERS_FILE, carried_counts, carried_warning, previous_profiles, segment_name
from refine.io.config import load_config
from refine.report.render import compare_with_previous
from refine.run.cycle import run_cycle
from refine.segments.assign import assign_segments
from refine.segments.decisions import accepted_proposals, decide, redefine_segments


def _accept(run_dir, proposal_id: str) -> None:
    """Accept a proposal whether or not it held on the holdout (this test is about what the next month does)."""
    extra = {"force": True} if "force" in inspect.signature(decide).parameters else {}
    decide(run_dir, proposal_id, "accepted", **extra)


@pytest.fixture(scope="module")
def months(tmp_path_factory, fake_embedder):
    root = tmp_path_factory.mktemp("months")
    paths = write_demo_data(root / "data", generate_company(seed=0, n_customers=3000, response_rate=0.35))
    config = load_config(paths["config"])
    first = run_cycle(paths["feedback"], paths["customers"], config, root / "m1", quiet=True, embedder=fake_embedder)
    chosen = {kind: next(p for p in first.proposals if p.kind == kind) for kind in ("split", "merge")}
    for proposal in chosen.values():
        _accept(first.out_dir, proposal.id)
    accepted = accepted_proposals(first.out_dir)
    # the CRM imported the accepted segments (as `refine assign` wrote them): next month's export carries them
    redefined, _ = redefine_segments(first.customers, accepted, config)
    carried = pd.read_csv(paths["customers"], dtype=str, keep_default_na=False)
    carried["Segment"] = carried["Customer ID"].map(redefined.set_index("Customer ID")["Segment"])
    names = {segment_name(p) for p in accepted}
    assert names <= set(carried["Segment"])
    carried_path = root / "carried.csv"
    carried.to_csv(carried_path, index=False)
    plain = run_cycle(
        paths["feedback"],
        paths["customers"],
        config,
        root / "m2",
        previous=first.out_dir,
        quiet=True,
        embedder=fake_embedder,
    )
    again = run_cycle(
        paths["feedback"],
        carried_path,
        config,
        root / "m2c",
        previous=first.out_dir,
        quiet=True,
        embedder=fake_embedder,
    )
    return first, accepted, plain, again, names


def test_a_run_keeps_what_next_month_needs_and_nothing_private(months):
    first, *_ = months
    stored = pd.read_parquet(first.out_dir / CUSTOMERS_FILE)
    assert list(stored.columns[:2]) == ["Customer ID", "Segment"]
    assert "contact_email" not in stored.columns
    rule_columns = {"channel", "region"} & {c for p in first.proposals for c in stored.columns if c in p.rule}
    assert rule_columns <= set(stored.columns) and {"churned_90d", "revenue_12m"} <= set(stored.columns)
    assert stored["Customer ID"].tolist() == first.customers["Customer ID"].astype(str).tolist()


def test_the_names_of_accepted_segments_are_the_names_assign_gives(months, tmp_path):
    first, accepted, *_ = months
    out = tmp_path / "assigned.csv"
    assign_segments(first.out_dir, first.manifest.inputs["customers"]["path"], out)
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert {segment_name(p) for p in accepted} <= set(written["new_segment"])


def test_segments_are_compared_with_the_same_definition_last_month(months):
    first, accepted, plain, _, names = months
    comparison = plain.comparison
    assert comparison["basis"] == "last month's customers under the same definition" and not comparison["not_compared"]
    shifts = {s["segment"]: s for s in comparison["sentiment_shifts"]}
    parent = next(p for p in accepted if p["kind"] == "split")["segments"][0]
    assert names | {parent} <= set(shifts)
    # same feedback both months: a like-with-like comparison sees no change in any segment
    assert all(abs(s["diff"]) < 1e-9 for s in shifts.values())
    # ... where last month's segment of the same name (all of the parent) differs: the old comparison's mistake
    by_name = pd.read_parquet(first.out_dir / "segments.parquet").set_index("segment")
    assert abs(by_name.loc[parent, "sentiment_mean"] - shifts[parent]["now"]) > 1e-3


def test_a_table_that_carries_the_accepted_segments_is_not_redefined_again(months):
    _, _, plain, again, names = months
    warning = next(w for w in again.manifest.warnings if "already carries the accepted segments" in w)
    assert all(name in warning for name in names) and "rules not applied again" in warning
    for name in names:  # every customer the rule selects carries the segment: said so, with the count
        carrying = int((again.customers["Segment"] == name).sum())
        assert f"“{name}” for all {carrying:,} customers the rule selects" in warning
    assert "do not carry" not in warning
    assert again.manifest.applied_decisions == [] and plain.manifest.applied_decisions
    assert "already carries the accepted segments" in (again.out_dir / "report.html").read_text()
    sizes = [r.segments.set_index("segment")["customers"].sort_index() for r in (plain, again)]
    pd.testing.assert_series_equal(*sizes)
    assert again.comparison["sentiment_shifts"] == plain.comparison["sentiment_shifts"]


def test_each_accepted_decision_is_followed_up(months):
    _, accepted, plain, again, _ = months
    followups = {f["proposal"]: f for f in plain.comparison["followups"]}
    assert set(followups) == {p["id"] for p in accepted}
    for proposal in accepted:
        record = followups[proposal["id"]]
        assert record["segment"] == segment_name(proposal) and record["measures"] and not record["note"]
        evidence = proposal["evidence"]
        held = evidence["holdout"]["equivalence"] if proposal["kind"] == "merge" else evidence["holdout"]
        followed = {m["measure"]: m for m in record["measures"]}
        assert {c["measure"] for c in held} <= set(followed)
        where = "all customers" if proposal["kind"] == "merge" else "held-out customers"  # a merge has no holdout
        assert all(followed[c["measure"]]["then"]["sample"] == where for c in held)
        # an outcome the decision rested on (a merge's churn, at 3,000 customers, can be too thin to compare)
        outcome = followed["churned_90d" if "churned_90d" in followed else "revenue_12m"]
        assert (
            outcome["now"] is not None
            and outcome["now"]["ci_low"] <= outcome["now"]["diff"] <= outcome["now"]["ci_high"]
        )
    split = next(p for p in accepted if p["kind"] == "split")
    churn = next(m for m in followups[split["id"]]["measures"] if m["measure"] == "churned_90d")["now"]
    group = plain.customers["Segment"] == segment_name(split)
    rest = plain.customers["Segment"] == split["segments"][0]
    assert churn["n_group"] == group.sum() and churn["n_rest"] == rest.sum()
    assert churn["diff"] == pytest.approx(
        plain.customers.loc[group, "churned_90d"].mean() - plain.customers.loc[rest, "churned_90d"].mean()
    )
    # same customers both months: this month's churn gap is the one the proposal measured on all customers
    then = next(m for m in followups[split["id"]]["measures"] if m["measure"] == "churned_90d")["then"]
    assert then["sample"] == "all customers" and churn["diff"] == pytest.approx(then["diff"])
    md = (plain.out_dir / "report.md").read_text()
    assert "Last month's accepted decisions, followed up" in md and "when proposed (all customers)" in md
    # the CRM's table carries the merged segment only: its parts cannot be told apart, and the report says so
    merge = next(p for p in accepted if p["kind"] == "merge")
    carried = {f["proposal"]: f for f in again.comparison["followups"]}
    assert "cannot be told apart" in carried[merge["id"]]["note"]
    assert all(m["now"] is None and m["not_measured"] for m in carried[merge["id"]]["measures"])
    assert "this month not measured" in (again.out_dir / "report.md").read_text()
    assert carried[split["id"]]["measures"] == followups[split["id"]]["measures"]


def test_an_older_previous_run_does_not_compare_the_segments_a_decision_changed(months, tmp_path):
    first, accepted, plain, _, names = months
    older = tmp_path / "older"
    shutil.copytree(first.out_dir, older)
    (older / CUSTOMERS_FILE).unlink()  # a run written before refine kept its customers' segments
    comparison = compare_with_previous(older, plain.topics, plain.segments, [], None, accepted)
    touched = names | {s for p in accepted for s in p["segments"]}
    assert comparison["basis"] == "last month's segment of the same name"
    assert set(comparison["not_compared"]) == touched & set(plain.segments["segment"])
    assert not touched & {s["segment"] for s in comparison["sentiment_shifts"]}
    assert comparison["sentiment_shifts"]  # the untouched segments are still compared


def test_last_month_is_not_redrawn_on_a_stored_table_without_a_rule_column(months, tmp_path):
    first, accepted, *_ = months
    older = tmp_path / "older"
    shutil.copytree(first.out_dir, older)
    split = next(p for p in accepted if p["kind"] == "split")
    column = split["rule"].split(" and ", 1)[1].split(" ")[0]
    stored = pd.read_parquet(older / CUSTOMERS_FILE)
    stored.drop(columns=[column]).to_parquet(older / CUSTOMERS_FILE, index=False)
    assert previous_profiles(older, accepted) is None  # compared by name, the touched segments left out
    redrawn = previous_profiles(first.out_dir, accepted)
    assert redrawn is not None and {segment_name(p) for p in accepted} <= set(redrawn["segment"])


def test_a_partial_crm_import_says_how_many_of_the_rule_s_customers_carry_it(months, tmp_path, fake_embedder):
    """The CRM imported the split's segment for only some of its customers: the warning says how many of the
    customers the rule selects carry it, and how many do not (they stay in their segment this month)."""
    first, accepted, _, again, _ = months
    config = load_config(Path(first.manifest.inputs["customers"]["path"]).parent / "refine.toml")
    split = next(p for p in accepted if p["kind"] == "split")
    name, parent = segment_name(split), split["segments"][0]
    redefined, _ = redefine_segments(first.customers, accepted, config)
    carriers = redefined.index[redefined["Segment"] == name]
    dropped = set(redefined.loc[carriers[::2], "Customer ID"])  # every other customer of the split not imported
    partial = redefined.copy()
    partial.loc[partial["Customer ID"].isin(dropped), "Segment"] = parent
    selected, carrying = len(carriers), len(carriers) - len(dropped)
    counts = carried_counts(partial, accepted, config)
    assert counts[name] == (carrying, selected)
    merge = segment_name(next(p for p in accepted if p["kind"] == "merge"))
    assert counts[merge][0] == counts[merge][1] == int((redefined["Segment"] == merge).sum())
    warning = carried_warning(list(counts), counts)
    assert f"“{name}” for {carrying:,} of {selected:,} customers the rule selects" in warning
    assert f"{selected - carrying:,} customers an accepted rule selects do not carry its segment" in warning
    # through a cycle: the month's table carries the split for half its customers
    table = pd.read_csv(again.manifest.inputs["customers"]["path"], dtype=str, keep_default_na=False)
    table.loc[table["Customer ID"].isin(dropped), "Segment"] = parent
    table.to_csv(tmp_path / "partial.csv", index=False)
    feedback = Path(first.manifest.inputs["feedback"]["path"])
    run = run_cycle(feedback, tmp_path / "partial.csv", config, tmp_path / "m2p", previous=first.out_dir,
                    quiet=True, embedder=fake_embedder)  # fmt: skip
    said = next(w for w in run.manifest.warnings if "already carries the accepted segments" in w)
    assert f"“{name}” for {carrying:,} of {selected:,} customers the rule selects" in said
    assert f"{selected - carrying:,} customers an accepted rule selects do not carry its segment" in said
