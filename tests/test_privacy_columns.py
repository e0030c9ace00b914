"""A customer column that holds phone, card numbers or e-mail addresses is no attribute a rule may name: a rule
such as ``contact >= 4155550000`` would print a phone number in proposals.json and the report (the project's
privacy standard; issue 29 point 7, second pair of eyes). It is skipped with its reason, where the id-like and
free-text columns are."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import refine.segments.search as search
from refine.demo.company import generate_company, write_demo_data
from refine.errors import RefineError
from refine.experiment import analyze_experiment
from refine.io.config import config_from_dict, load_config
from refine.io.ingest import ingest
from refine.io.privacy import personal_column, redact
from refine.run.cycle import run_cycle
from tests.test_propose import crm_table, run_crm


@pytest.mark.parametrize(
    ("values", "holds"),
    [
        ([4155550132 + 7 * i for i in range(200)], "phone numbers"),  # int64, as a CRM export types it
        ([4155550132.0 + i for i in range(200)], "phone numbers"),
        ([612345678 + i for i in range(200)], "phone numbers"),  # 0612345678 with its 0 lost to the number
        ([4111111111111111] * 200, "card numbers"),
        ([f"+44 20 7946 {i:04d}" for i in range(200)], "phone numbers"),
        ([f"user{i}@example.com" for i in range(200)], "e-mail addresses"),
        ([4155550132] * 120 + [np.nan] * 80 + [12.5] * 60, "phone numbers"),  # most of the filled cells
    ],
)
def test_a_column_of_personal_data_is_named(values, holds):
    assert personal_column(pd.Series(values)) == holds


@pytest.mark.parametrize(
    "values",
    [
        [1250000 + 1000 * i for i in range(200)],  # amounts in whole units: seven digits, no phone
        [round(1234.5 + i, 2) for i in range(200)],
        [4155550132] * 40 + [120] * 160,  # a few: not most
        ["north", "south", "415-555-0132"] * 50,
        [True, False] * 50,
        [np.nan] * 10,
    ],
)
def test_amounts_counts_and_a_few_numbers_are_not_personal(values):
    assert personal_column(pd.Series(values)) is None


def test_an_infinite_value_is_no_personal_number_and_no_crash():
    """A ratio column exported with "inf" (a division by zero) is still searched, as before the check."""
    from refine.io.privacy import personal_value

    assert not personal_value(float("inf")) and not personal_value(float("-inf"))
    assert personal_column(pd.Series([np.inf] * 5 + [1.0, 2.5])) is None
    assert personal_column(pd.Series([np.inf] * 5 + [4155550132.0 + i for i in range(20)])) == "phone numbers"
    ratio = pd.DataFrame({"ratio": [np.inf] + [i / 7 for i in range(99)]})
    attributes, skipped = search.describe_columns(ratio, ["ratio"], 10)
    assert [a.column for a in attributes] == ["ratio"] and not skipped


def _contact_table(seed: int):
    """crm_table with a phone number held as a number (North American numbers over every area code), planted:
    the customers with the higher numbers churn more and complain, so a search that read the column would
    propose `contact >= ...`, a number shaped like a phone."""
    rng = np.random.default_rng(seed)
    phones = rng.integers(201, 990, 6000).astype(np.int64) * 10**7 + rng.integers(2_000_000, 9_999_999, 6000)

    def planted(customers):
        customers.insert(2, "contact", phones)
        return (customers["contact"] >= np.quantile(phones, 0.94)).to_numpy()

    return crm_table(seed, planted=planted), phones


def test_a_phone_column_is_skipped_with_its_reason_and_never_reaches_a_rule(monkeypatch):
    (customers, feedback, config, _), phones = _contact_table(2)
    assert customers["contact"].dtype == np.int64
    result = run_crm(customers, feedback, config, seed=2)
    skipped = {s["column"]: s["reason"] for s in result.method["skipped_columns"]}
    assert skipped["contact"] == "holds phone numbers: not searched"
    written = json.dumps([result.proposals, result.stopped, result.method])
    assert "contact >" not in written and "contact <" not in written
    assert not any(str(number) in written for number in phones)
    # the same table without the check: the planted column is searched, and its rule reads as a phone number
    monkeypatch.setattr(search, "personal_column", lambda values: None)
    leaked = run_crm(customers, feedback, config, seed=2)
    rules = [p["rule"] for p in leaked.proposals if p["rule"].startswith("contact >= ")]
    assert rules and "[PHONE]" in redact(rules[0].split(">= ")[1])


def test_a_cycle_never_writes_a_phone_number_held_in_a_numeric_column(tmp_path, monkeypatch, hashing_model):
    monkeypatch.setenv("REFINE_CACHE_DIR", str(tmp_path / "cache"))
    demo = write_demo_data(tmp_path / "data", generate_company(seed=3, n_customers=500, response_rate=0.3))
    frame = pd.read_csv(demo["customers"], dtype=str, keep_default_na=False)
    numbers = [4155550132 + 7 * i for i in range(len(frame))]
    frame.insert(3, "contact", [str(n) for n in numbers])
    frame.to_csv(demo["customers"], index=False)
    out = tmp_path / "run"
    run_cycle(demo["feedback"], demo["customers"], load_config(demo["config"]), out, quiet=True)
    method = json.loads((out / "proposals.json").read_text())["method"]
    assert {"column": "contact", "reason": "holds phone numbers: not searched"} in method["skipped_columns"]
    report = (out / "report.md").read_text()
    assert "contact (holds phone numbers: not searched)" in report
    written = b"".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())
    for number in numbers:
        assert str(number).encode() not in written, number


def test_a_warning_never_quotes_a_phone_number_from_a_cell(tmp_path):
    """Ingest warnings reach run.json, the report and the terminal: the example cell they quote is redacted."""
    phones = [4155550132 + 7 * i for i in range(12)]
    rows = "".join(f'{i},{"Gold" if i % 2 else "Silver"},"{p:,}",1.5\n' for i, p in enumerate(phones, start=1))
    (tmp_path / "customers.csv").write_text("cid,tier,contact,spend\n" + rows)
    scores = ["5", "call me 415 555 0132", "4"] + ["3"] * 9
    feedback = "".join(f"{i},Comment number {i} about delivery,{s}\n" for i, s in enumerate(scores, start=1))
    (tmp_path / "feedback.csv").write_text("cid,comment,rating\n" + feedback)
    config = config_from_dict(
        {
            "feedback": {"customer_id": "cid", "text": "comment", "score": "rating", "score_kind": "stars"},
            "customers": {"customer_id": "cid", "segment": "tier"},
        }
    )
    result = ingest(tmp_path / "feedback.csv", tmp_path / "customers.csv", config)
    warnings = "\n".join(result.warnings)
    assert "read thousands separators in column 'contact' (12 cells, e.g. [PHONE] as [PHONE])" in warnings
    assert "not a number, e.g. 'call me [PHONE]'" in warnings
    assert not re.search(r"\d{3}\D?\d{3}", warnings), warnings
    assert result.customers["contact"].tolist() == phones  # read as the numbers they are


def test_a_level_that_is_an_email_or_a_phone_is_never_a_rule():
    """A column that is mostly not personal can still hold one big level that is: an account manager's e-mail
    shared by 150 customers. It is pooled with the rare levels, so no rule prints it; the other levels stay."""
    manager = ["jane.doe@example.com"] * 150 + ["north team"] * 250 + ["south team"] * 200
    phone = [4155550132] * 200 + [20, 30] * 200
    customers = pd.DataFrame({"manager": manager, "line": phone, "plan": ["a", "b", "c"] * 200})
    attributes, skipped = search.describe_columns(customers, list(customers.columns), 100)
    rules = [c.text for a in attributes for c in a.conditions]
    assert 'manager == "north team"' in rules and 'manager == "south team"' in rules
    assert not any("example.com" in r or "4155550132" in r for r in rules), rules
    assert "line == 20" in rules and not skipped


def test_run_json_records_a_stray_personal_value_of_a_rule_column_redacted():
    customers = pd.DataFrame({"channel": ["web", "app", "call me 415 555 0132", "jo@example.com"] * 30})
    recorded = search.observed_columns(customers, ['channel == "web"'])["channel"]
    assert recorded["values"] == ["app", "call me [PHONE]", "[EMAIL]", "web"] and recorded["distinct"] == 4


def test_an_ab_warning_or_error_never_quotes_a_phone_number_from_a_cell():
    from tests.test_experiment_over_time import KW, dated

    df = dated(n=800, seed=8)
    df.loc[df.index[:7], "ts"] = "call me 415 555 0132"
    report = analyze_experiment(df, metrics=["converted"], timestamp="ts", **KW)
    assert any("'call me [PHONE]'" in w for w in report["warnings"]), report["warnings"]
    assert "555" not in json.dumps(report["warnings"])
    with pytest.raises(RefineError, match="holds no readable date or time") as error:
        analyze_experiment(df.assign(ts="jo@example.com is me"), metrics=["converted"], timestamp="ts", **KW)
    assert "[EMAIL] is me" in str(error.value) and "@" not in str(error.value)


def test_a_metric_column_that_is_not_numeric_is_named_without_its_phone_number():
    from tests.test_experiment_over_time import KW, dated

    df = dated(n=800, seed=8).astype({"converted": object})
    df.loc[df.index[3], "converted"] = "4155550132 call me"
    with pytest.raises(RefineError, match="is not numeric") as error:
        analyze_experiment(df, metrics=["converted"], **KW)
    assert "[PHONE] call me" in str(error.value) and "4155550132" not in str(error.value)


def test_an_ingest_error_never_quotes_a_phone_number_from_a_cell(tmp_path):
    """Mapping the comments or an outcome to the contact column is a user mistake: the one-line error names the
    column and shows the cell redacted."""
    (tmp_path / "customers.csv").write_text(
        "cid,tier,contact,churned\n" + "".join(f"{i},Gold,415-555-{i:04d},{i % 2}\n" for i in range(1, 13))
    )
    (tmp_path / "feedback.csv").write_text(
        "cid,comment,phone\n" + "".join(f"{i},Late again,{4155550100 + i}\n" for i in range(1, 13))
    )

    def run(feedback: dict, customers: dict) -> str:
        config = config_from_dict(
            {
                "feedback": {"customer_id": "cid", "text": "comment", **feedback},
                "customers": {"customer_id": "cid", "segment": "tier", **customers},
            }
        )
        with pytest.raises(RefineError) as error:
            ingest(tmp_path / "feedback.csv", tmp_path / "customers.csv", config)
        return str(error.value)

    message = run({"text": "phone"}, {})
    assert "holds numbers, not comments (e.g. '[PHONE]'" in message and "41555" not in message
    message = run({}, {"outcomes": ["contact"]})
    assert "must be numeric or true/false (found '[PHONE]')" in message and "555" not in message
