"""Odd exports that used to give silently wrong results (issues 28/29, "cases the team does not have").

A European spreadsheet (semicolons, decimal commas), a segment spelled several ways, a customer exported twice
with two tiers, an outcome that never varies. The inputs are real small files; one cycle (hashing model) is
shared by the tests that need a run folder, and by the bad-input catalogue's rows on the same inputs.
"""

import json
import random

import pandas as pd
import pytest
from typer.testing import CliRunner

from refine.cli.main import app
from refine.io.config import config_from_dict
from refine.io.ingest import ingest
from refine.report.render import ab_command
from refine.segments.model import Proposal
from refine.segments.propose import _proposal_id

CONFIG = """[feedback]
customer_id = "Member No"
text = "Comment Text"
score = "rating"
score_kind = "stars"
[customers]
customer_id = "Member No"
segment = "Tier Name"
outcomes = ["churned"]
"""


def odd_world(seed: int = 1) -> dict[str, str]:
    """A semicolon export: 450 customers, half of them commenting, stars and spend written with decimal commas.

    Gold and Silver (200 each) churn alike; the old tier "Tin" is spelled "Tin" (25) and "TIN " (25), and those
    customers all churned (so each is the other's nearest small segment); the first 12 customers appear a second
    time with another tier (the CRM exported their history)."""
    rng = random.Random(seed)
    words = ["parcel late", "rude staff", "app crashes", "great price", "fast delivery", "wrong size", "love it"]
    customers, feedback = ["Member No;Tier Name;spend;churned"], ["Member No;Comment Text;rating"]
    tiers = ["Gold"] * 200 + ["Silver"] * 200 + ["Tin"] * 25 + ["TIN "] * 25
    rng.shuffle(tiers)
    for i, tier in enumerate(tiers, start=1):
        churned = 1 if tier.strip().lower() == "tin" else int(rng.random() < 0.2)
        customers.append(f"{i:05d};{tier};{rng.randint(1, 300)},{rng.randint(0, 99):02d};{churned}")
        if rng.random() < 0.5:
            feedback.append(f"{i:05d};{rng.choice(words)} and {rng.choice(words)};{rng.randint(1, 5)},0")
    for i in range(1, 13):
        tier = tiers[i - 1]
        customers.append(f"{i:05d};{'Silver' if tier == 'Gold' else 'Gold'};10,00;0")
    return {
        "refine.toml": CONFIG,
        "customers.csv": "\n".join(customers) + "\n",
        "feedback.csv": "\n".join(feedback) + "\n",
    }


ODD_WORLD = odd_world()


def config(**customers):
    return config_from_dict(
        {
            "feedback": {"customer_id": "Member No", "text": "Comment Text", "score": "rating", "score_kind": "stars"},
            "customers": {"customer_id": "Member No", "segment": "Tier Name", "outcomes": ["churned"], **customers},
        }
    )


def read(tmp_path, customers: str, feedback: str, **settings):
    (tmp_path / "customers.csv").write_text(customers)
    (tmp_path / "feedback.csv").write_text(feedback)
    return ingest(tmp_path / "feedback.csv", tmp_path / "customers.csv", config(**settings))


def test_decimal_comma_scores_are_numbers_and_said_once(tmp_path):
    result = read(tmp_path, ODD_WORLD["customers.csv"], ODD_WORLD["feedback.csv"])
    lines = ODD_WORLD["feedback.csv"].splitlines()[1:]
    expected = [float(line.rsplit(";", 1)[1].replace(",", ".")) for line in lines]
    assert result.feedback["score"].tolist() == expected
    assert result.counts["feedback_score_unreadable"] == 0
    said = [w for w in result.warnings if "decimal commas" in w]
    assert len(said) == 2, result.warnings  # once for the scores, once for spend
    assert any("column 'rating'" in w and "as " in w for w in said)


def test_decimal_comma_attributes_and_outcomes_are_numbers_and_ids_stay_text(tmp_path):
    customers = "Member No;Tier Name;spend;revenue;churned\n1,5;Gold;12,50;3,5;0\n007;Silver;3,25;;1\n8;Gold;4;1,25;0\n"
    feedback = "Member No;Comment Text;rating\n1,5;late parcel;4,0\n007;rude staff;2\n"
    result = read(tmp_path, customers, feedback, outcomes=["churned", "revenue"])
    frame = result.customers
    assert frame["spend"].tolist() == [12.5, 3.25, 4.0]
    assert frame["revenue"].tolist()[0] == 3.5 and pd.isna(frame["revenue"].tolist()[1])
    assert frame["Member No"].tolist() == ["1,5", "007", "8"]  # keys are never converted
    assert result.feedback["customer_id"].tolist() == ["1,5", "007"]
    assert result.feedback["score"].tolist() == [4.0, 2.0]
    assert "read decimal commas as decimal points in column 'spend' (2 cells, e.g. 12,50 as 12.50)" in result.warnings


@pytest.mark.parametrize(
    "cells",
    [
        ["1,250", "2,000", "999"],  # every comma could be a thousands separator (a US export): left alone
        ["1,234,567", "2,5"],  # one cell uses the comma as a thousands separator
        ["1.5", "2,5"],  # points and commas mixed
    ],
)
def test_an_ambiguous_comma_column_is_not_converted(tmp_path, cells):
    rows = "".join(f"{i};Gold;{cell};0\n" for i, cell in enumerate(cells, start=1))
    result = read(tmp_path, "Member No;Tier Name;spend;churned\n" + rows, "Member No;Comment Text;rating\n1;late;4\n")
    assert result.customers["spend"].tolist() == cells
    assert not any("decimal commas" in w for w in result.warnings)


@pytest.mark.parametrize(
    "cells, numbers",
    [
        (["1,250.50", "980.00", "12,000.75"], [1250.5, 980.0, 12000.75]),  # a US export, quoted in a comma CSV
        (["1,234,567", "1,250", "7"], [1234567, 1250, 7]),  # a second comma: they separate thousands
    ],
)
def test_thousands_separators_are_read_when_the_column_shows_them(tmp_path, cells, numbers):
    rows = "".join(f'{i},Gold,"{cell}",0\n' for i, cell in enumerate(cells, start=1))
    result = read(tmp_path, "Member No,Tier Name,spend,churned\n" + rows, "Member No,Comment Text,rating\n1,late,4\n")
    assert result.customers["spend"].tolist() == numbers
    (said,) = [w for w in result.warnings if "thousands separators" in w]
    assert f"column 'spend' (2 cells, e.g. {cells[0]} as {cells[0].replace(',', '')})" in said


@pytest.mark.parametrize(
    "cells, numbers, changed",
    [
        (["1.250,50", "980,00", "12.000,75", "7"], [1250.5, 980.0, 12000.75, 7.0], 3),  # a German export
        (["1.234.567", "1.250", "7"], [1234567, 1250, 7], 2),  # a second point: they separate thousands
        (["-1.250,50", "", "3,5"], [-1250.5, None, 3.5], 2),
    ],
)
def test_european_numbers_are_read_when_the_column_shows_them(tmp_path, cells, numbers, changed):
    rows = "".join(f"{i};Gold;{cell};0\n" for i, cell in enumerate(cells, start=1))
    result = read(tmp_path, "Member No;Tier Name;spend;churned\n" + rows, "Member No;Comment Text;rating\n1;late;4\n")
    read_as = [None if pd.isna(v) else v for v in result.customers["spend"].tolist()]
    assert read_as == numbers
    (said,) = [w for w in result.warnings if "European numbers" in w]
    example = cells[0]
    shown = example.replace(".", "").replace(",", ".")
    assert f"read European numbers in column 'spend' ({changed} cells, e.g. {example} as {shown})" == said


def test_a_european_score_and_outcome_are_numbers(tmp_path):
    customers = "Member No;Tier Name;revenue;churned\n1;Gold;1.250,50;0\n2;Silver;2.000,00;1\n3;Gold;;0\n"
    feedback = "Member No;Comment Text;rating\n1;late parcel;4,5\n2;rude staff;2\n"
    result = read(tmp_path, customers, feedback, outcomes=["churned", "revenue"])
    assert result.customers["revenue"].tolist()[:2] == [1250.5, 2000.0]
    assert result.feedback["score"].tolist() == [4.5, 2.0]
    assert result.customers["Member No"].tolist() == ["1", "2", "3"]


@pytest.mark.parametrize(
    "cells",
    [
        ["1,250.50", "1.250,50", "7"],  # a US and a European number in one column
        ["1,234,567", "1.234.567"],
    ],
)
def test_a_column_writing_numbers_both_ways_is_named_not_guessed(tmp_path, cells):
    rows = "".join(f'{i},Gold,"{cell}",0\n' for i, cell in enumerate(cells, start=1))
    result = read(tmp_path, "Member No,Tier Name,spend,churned\n" + rows, "Member No,Comment Text,rating\n1,late,4\n")
    assert result.customers["spend"].tolist() == cells  # as written: a category, never a guessed number
    (said,) = [w for w in result.warnings if "both ways" in w]
    assert said.startswith(f"column 'spend' writes numbers both ways ({cells[0]} and {cells[1]})")
    assert not any("European" in w or "thousands" in w or "decimal commas" in w for w in result.warnings)


@pytest.mark.parametrize(
    "cells, kind, scores, read",
    [
        (["4/5", "2 / 5", "N/A", "5"], "stars", [4.0, 2.0, None, 5.0], True),
        (["4 stars", "1 star", "3 out of 5", ""], "stars", [4.0, 1.0, 3.0, None], True),
        (["★★★★☆", "★★☆☆☆", "5"], "stars", [4.0, 2.0, 5.0], True),
        (["4/10", "8/10"], "stars", [None, None], False),  # a 0-10 answer is not read as stars
        (["4/5", "7/10"], "nps", [None, None], False),  # two scales in one column: left unread
    ],
)
def test_scores_written_with_their_scale_are_numbers(tmp_path, cells, kind, scores, read):
    rows = "".join(f"{i},comment {i},{cell}\n" for i, cell in enumerate(cells, start=1))
    customers = "Member No,Tier Name,churned\n" + "".join(f"{i},Gold,0\n" for i in range(1, len(cells) + 1))
    (tmp_path / "customers.csv").write_text(customers)
    (tmp_path / "feedback.csv").write_text("Member No,Comment Text,rating\n" + rows)
    settings = {"customer_id": "Member No", "text": "Comment Text", "score": "rating", "score_kind": kind}
    result = ingest(tmp_path / "feedback.csv", tmp_path / "customers.csv", config_from_dict(
        {"feedback": settings, "customers": {"customer_id": "Member No", "segment": "Tier Name"}}
    ))  # fmt: skip
    got = [None if pd.isna(v) else v for v in result.feedback["score"]]
    assert got == scores
    assert any("written with their scale" in w for w in result.warnings) == read
    assert len(result.feedback) == len(cells)  # a comment is never lost over its score


def test_numbers_with_a_unit_are_named_not_guessed(tmp_path):
    customers = "Member No,Tier Name,churned,spend,discount,plan\n1,Gold,0,$7.00,12%,a\n2,Silver,1,$1250.50,5%,b\n"
    result = read(tmp_path, customers, "Member No,Comment Text,rating\n1,late,4\n")
    said = [w for w in result.warnings if "written with a unit" in w]
    assert said == [
        "column 'spend' holds numbers written with a unit (e.g. '$7.00'): it is read as text (categories), not as "
        "a number; export it as plain numbers to have it searched by value",
        "column 'discount' holds numbers written with a unit (e.g. '12%'): it is read as text (categories), not as "
        "a number; export it as plain numbers to have it searched by value",
    ]
    assert result.customers["discount"].tolist() == ["12%", "5%"]  # as written: a CRM holds these cells


def test_segment_spellings_are_named_with_counts_and_kept_exact(tmp_path):
    result = read(tmp_path, ODD_WORLD["customers.csv"], ODD_WORLD["feedback.csv"])
    (said,) = [w for w in result.warnings if "spells" in w]
    assert "'Tin' (" in said and "'TIN ' (" in said and "differing only by case or spaces" in said
    segments = set(result.customers["Tier Name"])
    assert {"Tin", "TIN"} <= segments  # names are CRM values: not merged, not recased


def test_a_duplicate_id_with_another_segment_says_which_was_kept(tmp_path):
    customers = "Member No,Tier Name,churned\n1,Gold,0\n2,Silver,1\n1,Silver,0\n2,Silver,1\n3,Gold,0\n"
    (tmp_path / "customers.csv").write_text(customers)
    (tmp_path / "feedback.csv").write_text("Member No,Comment Text\n1,late\n")
    result = ingest(tmp_path / "feedback.csv", tmp_path / "customers.csv", config_from_dict(
        {"feedback": {"customer_id": "Member No", "text": "Comment Text"},
         "customers": {"customer_id": "Member No", "segment": "Tier Name"}}
    ))  # fmt: skip
    reasons = dict(zip(result.rejects["row"], result.rejects["reason"]))
    assert reasons == {
        3: "duplicate customer id with another segment (Gold kept, Silver dropped)",
        4: "duplicate customer id",  # the same row again: nothing disagrees
    }
    said = [w for w in result.warnings if "repeat an id" in w]
    assert said == [
        "1 customer rows repeat an id with a different segment: the first row's segment is kept "
        "(see rejects.csv; export one row per customer)"
    ]


def test_proposal_ids_never_collide():
    rule = '`Tier Name` in ["TIN", "Tin"]'
    first = _proposal_id("merge", rule, ["Tin", "TIN"])
    assert first == _proposal_id("merge", rule)  # ids as they have always been, while free
    second = _proposal_id("merge", rule, ["Tin", "TIN", "x"], taken={first})
    third = _proposal_id("merge", rule, ["Tin", "TIN", "y"], taken={first, second})
    assert len({first, second, third}) == 3 and all(i.startswith("merge-") for i in (second, third))


def test_no_test_suggested_on_an_outcome_that_never_varies():
    p = Proposal.from_json({"id": "merge-1", "kind": "merge", "segments": ["A", "B"], "rule": "x", "evidence": {}})
    made = ab_command(p, "runs/may", ["churned", "spend"], constant=["churned"])
    assert "--metric spend" in made["command"]
    none = ab_command(p, "runs/may", ["churned"], constant=["churned"])
    assert none["command"] is None
    assert none["why"] == "no outcome (churned) varies between customers, so a test could show no difference"


@pytest.fixture(scope="module")
def odd_run(tmp_path_factory):
    """The cycle on ODD_WORLD, run once through the CLI with the hashing model."""
    from tests.conftest import use_hashing_model

    folder = tmp_path_factory.mktemp("odd")
    for name, content in ODD_WORLD.items():
        (folder / name).write_text(content)
    patch = pytest.MonkeyPatch()
    use_hashing_model(patch)
    patch.chdir(folder)
    try:
        args = ["--feedback", "feedback.csv", "--customers", "customers.csv", "--config", "refine.toml"]
        result = CliRunner().invoke(app, ["run", "--quiet", *args, "--out", "run"])
    finally:
        patch.undo()
    assert result.exit_code == 0, result.output
    return folder / "run", result.output


def test_case_variant_segments_give_proposals_with_unique_ids(odd_run):
    run, _ = odd_run
    cards = json.loads((run / "proposals.json").read_text())["proposals"]
    ids = [card["id"] for card in cards]
    assert len(ids) == len(set(ids)), ids
    # both spellings of Tin are small and each other's nearest: proposed once, not once from each side
    tin = [card for card in cards if sorted(card["segments"]) == ["TIN", "Tin"]]
    assert len(tin) == 1, [card["segments"] for card in cards]


def test_the_report_names_the_odd_export(odd_run):
    run, output = odd_run
    report = (run / "report.md").read_text()
    assert "spells 1 segment(s) several ways" in report
    assert "read decimal commas as decimal points in column" in report and "not a number" not in output
    assert "repeat an id with a different segment" in output
