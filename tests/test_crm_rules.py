"""Rules a CRM can run (issue 28, point 2): written on the values the customer table holds, shown as SQL
that selects the same customers in a real database (sqlite3) as refine's own evaluation of the rule."""

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from refine.io.config import config_from_dict
from refine.io.ingest import read_customers
from refine.segments.rules import apply_rule, rule_sql
from refine.segments.search import describe_columns

COLUMNS = ["Member No", "Tier Name", "Uses App", "newsletter", "flag", "region", 'say "hi"', "spend", "last_order"]
NUMERIC = {"flag", "spend"}


def config():
    return config_from_dict(
        {
            "feedback": {"customer_id": "Member No", "text": "Comment Text"},
            "customers": {"customer_id": "Member No", "segment": "Tier Name"},
        }
    )


def table(n: int = 400, seed: int = 0) -> list[list[str]]:
    """Raw cells as a CRM export holds them; "" is a blank cell."""
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    rows = []
    for i in range(n):
        rows.append(
            [
                f"00{i}",
                str(rng.choice(["Gold", "Silver", "Bronze"])),
                str(rng.choice(["Yes", "yes", "Y", "no", "No", ""])),
                str(rng.choice(["true", "false"])),
                str(rng.choice(["0", "1"])),
                str(rng.choice(["west", "O'Brien's", 'the "north"', "back`tick", ""])),
                str(rng.choice(["a", "b"])),
                "" if rng.random() < 0.1 else f"{rng.gamma(2, 400):.2f}",
                "" if rng.random() < 0.1 else days[i].strftime("%Y-%m-%d"),
            ]
        )
    return rows


def write_csv(path, rows) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def database(rows) -> sqlite3.Connection:
    """The table as a CRM holds it: numbers in numeric columns, the rest text, a blank cell NULL."""
    db = sqlite3.connect(":memory:")
    declared = ", ".join(f'"{c.replace(chr(34), chr(34) * 2)}" {"REAL" if c in NUMERIC else "TEXT"}' for c in COLUMNS)
    db.execute(f"CREATE TABLE customers ({declared})")
    db.executemany(
        f"INSERT INTO customers VALUES ({', '.join('?' * len(COLUMNS))})",
        [[None if cell == "" else cell for cell in row] for row in rows],
    )
    return db


def selected_by_sql(db: sqlite3.Connection, rule: str) -> set[str]:
    return {r[0] for r in db.execute(f'SELECT "Member No" FROM customers WHERE {rule_sql(rule)}')}


def selected_by_rule(customers: pd.DataFrame, rule: str) -> set[str]:
    return set(customers.loc[apply_rule(customers, rule), "Member No"])


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    rows = table()
    path = tmp_path_factory.mktemp("crm") / "customers.csv"
    write_csv(path, rows)
    return read_customers(path, config()), database(rows), rows


def test_yes_no_rules_name_the_values_the_table_holds(crm):
    customers, _, _ = crm
    attributes, _ = describe_columns(customers, ["Uses App", "newsletter", "flag"], 20)
    texts = {a.column: [c.text for c in a.conditions] for a in attributes}
    assert texts["Uses App"] == [
        '`Uses App` in ["No", "no"]',
        '`Uses App` in ["Y", "Yes", "yes"]',
        "`Uses App` == None",
    ]
    assert texts["newsletter"] == ['newsletter == "false"', 'newsletter == "true"']
    assert texts["flag"] == ["flag == 0", "flag == 1"]  # a 1/0 flag stays 1/0
    assert {a.column: a.kind for a in attributes}["Uses App"] == "boolean"  # still searched as a flag


def test_every_candidate_condition_selects_the_same_customers_in_sql(crm):
    customers, db, _ = crm
    attributes, skipped = describe_columns(customers, COLUMNS[1:], 20)
    assert {a.column for a in attributes} == set(COLUMNS[1:]), skipped
    kinds = {a.kind for a in attributes}
    assert {"boolean", "category", "numeric", "date"} <= kinds
    conditions = [c.text for a in attributes for c in a.conditions]
    assert len(conditions) > 100
    for rule in conditions:
        assert selected_by_sql(db, rule) == selected_by_rule(customers, rule), (rule, rule_sql(rule))


@pytest.mark.parametrize(
    "rule",
    [
        '`Tier Name` == "Gold" and `Uses App` in ["Y", "Yes", "yes"]',
        '`Tier Name` in ["Gold", "Silver"] and 500 <= spend < 1200',
        'region == "O\'Brien\'s" or region == "the \\"north\\"" or region == "back`tick"',
        'region != "west"',
        'region not in ["west", "back`tick"]',
        'region not in ["west", None]',
        'region in ["west", None]',
        "region == None",
        "region != None",
        'not (region == "west" or spend >= 1000)',
        'last_order < "2026-06-01" and `say "hi"` == "a"',
        '"2026-03-01" <= last_order < "2026-09-01"',
        "spend > 800.5 or flag == 1",
        "spend <= -1",
    ],
)
def test_rules_of_every_kind_round_trip_through_sql(crm, rule):
    customers, db, _ = crm
    assert selected_by_sql(db, rule) == selected_by_rule(customers, rule), rule_sql(rule)


def test_sql_quotes_identifiers_and_strings():
    assert (
        rule_sql('`Uses App` in ["Y", "yes"] and spend >= 8000') == "\"Uses App\" IN ('Y', 'yes') AND \"spend\" >= 8000"
    )
    assert rule_sql('region == "O\'Brien"') == "\"region\" = 'O''Brien'"
    assert rule_sql('`say "hi"` == None') == '"say ""hi""" IS NULL'
    assert rule_sql('region != "west"') == '("region" IS NULL OR "region" <> \'west\')'
    assert rule_sql('"2024-01-01" <= d < "2024-03-01"') == "'2024-01-01' <= \"d\" AND \"d\" < '2024-03-01'"


def test_report_and_proposals_json_show_each_rule_as_a_sql_where(tmp_path):
    from test_report import hostile_cycle

    from refine.run.folders import write_run

    cycle = hostile_cycle(tmp_path)
    for column in ["feedback_id", "customer_id", "segment", "text", "timestamp", "source", "topic_label"]:
        cycle.feedback[column] = ""
    for column in ["p_negative", "p_neutral", "p_positive"]:
        cycle.feedback[column] = 0.0
    write_run(cycle)
    rule = cycle.proposals[0].rule
    where = rule_sql(rule)
    md = (tmp_path / "report.md").read_text()
    assert f"- SQL: ` WHERE {where} `\n" in md or f"- SQL: `WHERE {where}`\n" in md
    page = (tmp_path / "report.html").read_text()
    assert "SQL: <code>WHERE " in page and "&lt;script&gt;" in page.split("SQL: <code>WHERE ", 1)[1][:80]
    import json

    document = json.loads((tmp_path / "proposals.json").read_text())
    assert [p["sql"] for p in document["proposals"]] == [rule_sql(p.rule) for p in cycle.proposals]


# ---- refine assign: a rule that matches nobody, a column whose values changed --------------------------------

ASSIGN_CONFIG = {
    "feedback": {"customer_id": "Customer ID", "text": "Comment Text"},
    "customers": {"customer_id": "Customer ID", "segment": "Segment"},
}


def month(flags: list[str], regions=("west", "north")) -> str:
    lines = ["Customer ID,Segment,Uses App,region"]
    for i, flag in enumerate(flags):
        lines.append(f"+4477009{i:05d},{'Silver' if i % 2 else 'Gold'},{flag},{regions[i % len(regions)]}")
    return "\n".join(lines) + "\n"


def assign_run(tmp_path, month_one: str):
    """A run folder as refine writes it: the rule found by the search on month one, accepted."""
    from refine.segments.search import observed_columns

    (tmp_path / "month1.csv").write_text(month_one)
    customers = read_customers(tmp_path / "month1.csv", config_from_dict(ASSIGN_CONFIG))
    attributes, _ = describe_columns(customers, ["Uses App"], 5)
    no = next(c.text for c in attributes[0].conditions if "no" in c.text)
    rule = f'Segment == "Silver" and {no}'
    proposals = [{"id": "split-1", "rank": 1, "kind": "split", "segments": ["Silver"], "rule": rule}]
    run = tmp_path / "run"
    run.mkdir()
    manifest = {
        "refine_version": "0.3.0",
        "started": "2026-11-01",
        "config": ASSIGN_CONFIG,
        "rule_columns": observed_columns(customers, [rule]),
    }
    (run / "run.json").write_text(json.dumps(manifest))
    (run / "proposals.json").write_text(json.dumps({"proposals": proposals}))
    decisions = [{"proposal": "split-1", "decision": "accepted", "rule": "", "reason": ""}]
    (run / "decisions.json").write_text(json.dumps({"decisions": decisions}))
    return run, rule


def assign(tmp_path, run, month_two: str, *flags: str):
    from typer.testing import CliRunner

    from refine.cli.main import app

    (tmp_path / "month2.csv").write_text(month_two)
    out = tmp_path / "assigned.csv"
    args = ["assign", "--run", str(run), "--customers", str(tmp_path / "month2.csv"), "--out", str(out), *flags]
    return CliRunner().invoke(app, args), out


def test_run_json_records_what_the_run_saw_of_each_rule_column(tmp_path):
    run, rule = assign_run(tmp_path, month(["Yes", "no", "yes", "No"] * 10))
    assert rule == 'Segment == "Silver" and `Uses App` in ["No", "no"]'
    seen = json.loads((run / "run.json").read_text())["rule_columns"]
    assert seen["Uses App"] == {"kind": "boolean", "distinct": 4, "values": ["No", "Yes", "no", "yes"]}
    assert seen["Segment"]["values"] == ["Gold", "Silver"]


def test_assign_is_quiet_when_the_table_holds_what_the_run_saw(tmp_path):
    run, _ = assign_run(tmp_path, month(["yes", "no"] * 20))
    result, out = assign(tmp_path, run, month(["no", "yes", "no", "no"] * 10), "--strict")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output and "10 change segment" in result.output
    frame = pd.read_csv(out, dtype=str)
    assert frame["Customer ID"].str.startswith("+44").all()  # ids leave as they came


def test_assign_warns_when_yes_no_became_1_0_and_the_rule_matches_nobody(tmp_path):
    run, _ = assign_run(tmp_path, month(["yes", "no"] * 20))
    result, out = assign(tmp_path, run, month(["1", "0"] * 20))
    assert result.exit_code == 0, result.output
    assert "0 change segment" in result.output
    assert "warning: column 'Uses App' held boolean values (no, yes) when the run saw it and now holds numeric" in (
        result.output
    )
    assert "warning: accepted proposal split-1's rule matches no customer" in result.output
    out.unlink()
    strict, _ = assign(tmp_path, run, month(["1", "0"] * 20), "--strict")
    assert strict.exit_code == 2 and not out.exists()
    assert "--strict: nothing written: column 'Uses App' held boolean values" in strict.output
    assert "(and 1 more)" in strict.output and "Traceback" not in strict.output


def test_assign_warns_when_a_yes_no_column_is_spelled_otherwise(tmp_path):
    run, _ = assign_run(tmp_path, month(["yes", "no"] * 20))
    result, _ = assign(tmp_path, run, month(["Y", "N", "no"] * 20), "--strict")
    assert result.exit_code == 2
    assert "yes/no column 'Uses App' was spelled no, yes in the run and now N, Y, no" in result.output


def test_assign_warns_when_a_value_a_rule_names_is_gone(tmp_path):
    run, _ = assign_run(tmp_path, month(["yes", "no"] * 20))
    renamed = month(["yes", "no"] * 20).replace(",Silver,", ",Silver Plus,")
    result, _ = assign(tmp_path, run, renamed)
    assert result.exit_code == 0, result.output
    assert "warning: column 'Segment' no longer holds Silver, which a rule names" in result.output


def test_a_rule_accepted_before_yes_no_was_kept_as_held_still_selects_the_same_customers(crm):
    customers, _, rows = crm
    held = {row[0]: row[2] for row in rows}
    old = selected_by_rule(customers, '`Tier Name` == "Gold" and `Uses App` == False')
    assert old and all(held[i] in ("no", "No") for i in old)
    assert old == selected_by_rule(customers, '`Tier Name` == "Gold" and `Uses App` in ["No", "no"]')
    assert selected_by_rule(customers, "`Uses App` != True") == {
        i for i, v in held.items() if v not in ("Yes", "yes", "Y")
    }


@pytest.mark.parametrize("rule", ["vip == True", "vip == False", "vip", "not vip", "vip != True and tier == 2"])
def test_rules_on_a_true_false_column_of_a_database_round_trip(rule):
    """A database source gives real booleans (and a 1/0 INTEGER column in sqlite): TRUE / FALSE select the same."""
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "vip": [True, False, True, False], "tier": [1, 2, 2, 1]})
    db = sqlite3.connect(":memory:")
    db.execute('CREATE TABLE customers ("id" TEXT, "vip" BOOLEAN, "tier" INTEGER)')
    db.executemany("INSERT INTO customers VALUES (?, ?, ?)", frame.itertuples(index=False))
    selected = {r[0] for r in db.execute(f'SELECT "id" FROM customers WHERE {rule_sql(rule)}')}
    assert selected == set(frame.loc[apply_rule(frame, rule), "id"]), rule_sql(rule)
