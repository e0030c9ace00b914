"""[limits]: a table past a limit is refused at ingest, in one line naming the column and the setting.

One test per limit. The hostile tables are refused before any model is built (the embedder
factory fails the test if it is reached); bench/limits_bench.py prints how long each refusal takes.
"""

import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from refine.cli.main import app
from refine.errors import RefineError
from refine.io.config import config_from_dict
from refine.io.ingest import ingest
from refine.io.limits import CATEGORY, DATE, FREE_TEXT, ID_LIKE, NUMERIC, classify_columns
from refine.segments.search import describe_columns

runner = CliRunner()


def config(**limits):
    return config_from_dict(
        {
            "feedback": {"customer_id": "id", "text": "text"},
            "customers": {"customer_id": "id", "segment": "segment", "outcomes": ["churned"]},
            "limits": limits,
        }
    )


def write_inputs(tmp_path, customers: pd.DataFrame, feedback_rows: int = 30):
    customers.to_csv(tmp_path / "customers.csv", index=False)
    feedback = pd.DataFrame(
        {"id": customers["id"].iloc[:feedback_rows], "text": [f"comment number {i}" for i in range(feedback_rows)]}
    )
    feedback.to_csv(tmp_path / "feedback.csv", index=False)
    return tmp_path / "feedback.csv", tmp_path / "customers.csv"


def customers_table(n: int, **columns) -> pd.DataFrame:
    frame = pd.DataFrame({"id": [f"c{i:06d}" for i in range(n)], "segment": ["Gold", "Silver"] * (n // 2)})
    frame["churned"] = np.arange(n) % 2
    for name in [c for c in columns if c in frame.columns]:
        frame[name] = columns.pop(name)
    return pd.concat([frame, pd.DataFrame(columns, index=frame.index)], axis=1) if columns else frame


@pytest.fixture
def no_models(monkeypatch):
    """Fail the test if the run gets as far as building an embedder: limits must stop it before."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was built: the limit was not checked at ingest")

    monkeypatch.setattr("refine.text.embed.build_embedder", refuse)


def run_cli(tmp_path, feedback, customers, toml: str = ""):
    (tmp_path / "refine.toml").write_text(
        '[feedback]\ncustomer_id = "id"\ntext = "text"\n'
        '[customers]\ncustomer_id = "id"\nsegment = "segment"\noutcomes = ["churned"]\n' + toml
    )
    started = time.perf_counter()
    result = runner.invoke(
        app,
        [
            "run",
            "--quiet",
            "--feedback",
            str(feedback),
            "--customers",
            str(customers),
            "--config",
            str(tmp_path / "refine.toml"),
            "--out",
            str(tmp_path / "run"),
        ],
    )
    print(f"refused after {time.perf_counter() - started:.2f} s")  # figures belong in bench/, not in asserts
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert not (tmp_path / "run" / "run.json").exists()
    return lines[0]


def test_hostile_segment_column_is_refused_at_ingest(tmp_path, no_models):
    """The table from the issue: 100,000 distinct segment values ran for 100+ CPU-minutes before."""
    n = 100_000
    customers = customers_table(n)
    customers["segment"] = [f"segment {i}" for i in range(n)]
    feedback, path = write_inputs(tmp_path, customers)
    line = run_cli(tmp_path, feedback, path)
    assert "'segment' holds 100,000 distinct segments" in line
    assert "[limits] max_segment_values = 200" in line
    assert "customers.csv" in line


def test_segments_at_the_limit_pass(tmp_path):
    customers = customers_table(40, segment=[f"s{i % 4}" for i in range(40)])
    feedback, path = write_inputs(tmp_path, customers)
    assert ingest(feedback, path, config(max_segment_values=4)).customers["segment"].nunique() == 4
    with pytest.raises(RefineError, match=r"max_segment_values = 3;"):
        ingest(feedback, path, config(max_segment_values=3))


def test_levels_per_attribute(tmp_path, no_models):
    n = 10_000
    rng = np.random.default_rng(0)
    customers = customers_table(
        n,
        postcode=[f"P{v}" for v in rng.integers(0, 3000, n)],  # ~2,900 levels: a category past the limit
        member_code=[f"M{i}" for i in range(n)],  # one value per customer: id-like, skipped, not refused
        note=[f"customer wrote a long free-text note about visit {i % 50} and more" for i in range(n)],
    )
    feedback, path = write_inputs(tmp_path, customers)
    line = run_cli(tmp_path, feedback, path)
    assert "column 'postcode' has" in line and "[limits] max_attribute_levels = 2,000" in line
    assert "[customers] exclude" in line
    # excluded, the same table passes: the id-like and free-text columns are classified, not refused
    result = ingest(feedback, path, config_from_dict(_with_exclude(["postcode"])))
    assert result.column_kinds.kinds == {"member_code": ID_LIKE, "note": FREE_TEXT}
    # a raised limit lets the column through as a category
    raised = ingest(feedback, path, config(max_attribute_levels=5000))
    assert raised.column_kinds.kinds["postcode"] == CATEGORY
    assert raised.column_kinds.levels["postcode"] > 2000


def _with_exclude(columns):
    return {
        "feedback": {"customer_id": "id", "text": "text"},
        "customers": {"customer_id": "id", "segment": "segment", "outcomes": ["churned"], "exclude": columns},
    }


def test_number_of_attributes(tmp_path, no_models):
    wide = {f"attribute {i}": np.arange(50) % 3 for i in range(600)}
    customers = customers_table(50, **wide)
    feedback, path = write_inputs(tmp_path, customers)
    line = run_cli(tmp_path, feedback, path)
    assert "600 attribute columns, more than [limits] max_attributes = 500" in line
    assert "[customers] exclude" in line


def test_attributes_counted_are_those_rules_may_use(tmp_path):
    """The id, the segment, outcomes and excluded columns do not count toward max_attributes."""
    customers = customers_table(50, region=["north", "south"] * 25, age=np.arange(50), email=["x@y.z"] * 50)
    feedback, path = write_inputs(tmp_path, customers)
    settings = config_from_dict(_with_exclude(["email"]))
    settings.limits.max_attributes = 2
    assert sorted(ingest(feedback, path, settings).column_kinds.kinds) == ["age", "region"]
    settings.limits.max_attributes = 1
    with pytest.raises(RefineError, match="2 attribute columns, more than"):
        ingest(feedback, path, settings)


def test_feedback_rows(tmp_path, no_models):
    customers = customers_table(40)
    feedback, path = write_inputs(tmp_path, customers, feedback_rows=30)
    line = run_cli(tmp_path, feedback, path, "[limits]\nmax_feedback_rows = 29\n")
    assert "the feedback file has 30 rows, more than [limits] max_feedback_rows = 29" in line
    assert "feedback.csv" in line
    assert len(ingest(feedback, path, config(max_feedback_rows=30)).feedback) == 30


def test_customer_rows(tmp_path, no_models):
    customers = customers_table(40)
    feedback, path = write_inputs(tmp_path, customers)
    line = run_cli(tmp_path, feedback, path, "[limits]\nmax_customer_rows = 39\n")
    assert "the customer file has 40 rows, more than [limits] max_customer_rows = 39" in line
    assert len(ingest(feedback, path, config(max_customer_rows=40)).customers) == 40


def test_text_length_is_truncated_and_counted(tmp_path):
    """Text length is limited by [feedback] max_text_chars: cut and counted, never a refusal."""
    customers = customers_table(4)
    customers.to_csv(tmp_path / "customers.csv", index=False)
    pd.DataFrame({"id": ["c000000", "c000001"], "text": ["late parcel " * 1000, "fine"]}).to_csv(
        tmp_path / "feedback.csv", index=False
    )
    settings = config()
    settings.feedback.max_text_chars = 100
    result = ingest(tmp_path / "feedback.csv", tmp_path / "customers.csv", settings)
    assert result.feedback["text"].str.len().max() == 100
    assert result.counts["feedback_truncated"] == 1
    assert any("truncated" in w for w in result.warnings)


def test_classification_of_columns():
    n = 200
    frame = pd.DataFrame(
        {
            "tier": ["a", "b", "c", "d"] * (n // 4),
            "account": [f"acc-{i}" for i in range(n)],
            "spend": np.linspace(0, 1, n),
            "vip": [True, False] * (n // 2),
            "comment": ["this customer asked for a call back about the invoice they received"] * n,
        }
    )
    kinds = classify_columns(frame, list(frame.columns))
    assert kinds.kinds == {
        "tier": CATEGORY,
        "account": ID_LIKE,
        "spend": NUMERIC,
        "vip": "boolean",
        "comment": FREE_TEXT,
    }
    assert kinds.searchable == ["tier", "spend", "vip"] and kinds.skipped == ["account", "comment"]
    assert kinds.levels == {"tier": 4, "account": 200, "comment": 1}
    # a tiny table says too little to call anything an id
    assert classify_columns(frame.head(10), ["account"]).kinds["account"] == CATEGORY


@pytest.mark.parametrize(
    "key", ["max_feedback_rows", "max_customer_rows", "max_segment_values", "max_attribute_levels"]
)
def test_limits_must_be_positive(key):
    with pytest.raises(RefineError, match=rf"\[limits\] {key} must be at least 1"):
        config(**{key: 0})


def test_a_date_column_is_a_date_not_a_category_past_the_level_limit(tmp_path):
    # ISO dates over ~8 years hold ~3,000 distinct values: a date the search cuts by days, never refused
    n = 10_000
    rng = np.random.default_rng(1)
    days = pd.to_timedelta(rng.integers(0, 3000, n), unit="D")
    customers = customers_table(n, signup_date=list((pd.Timestamp("2024-06-01") - days).strftime("%Y-%m-%d")))
    feedback, path = write_inputs(tmp_path, customers)
    result = ingest(feedback, path, config())
    assert result.column_kinds.kinds == {"signup_date": DATE}
    assert result.column_kinds.searchable == ["signup_date"]
    # the search bins it by the same classification: a date attribute with cuts written as dates
    attributes, skipped = describe_columns(result.customers, ["signup_date"], 100)
    assert not skipped and attributes[0].kind == "date"
    assert any(c.text.startswith('signup_date < "') for c in attributes[0].conditions)
