"""Dates are read per column, not per cell (issue 29, point 3): day-first or month-first decided from every value
of a column, a warning when nothing decides it or two formats are mixed, a strptime pattern that overrides."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from refine.errors import RefineError
from refine.experiment import analyze_experiment
from refine.io.config import config_from_dict
from refine.io.dates import read_dates
from refine.io.ingest import ingest
from refine.io.limits import DATE, classify_column, date_values


def days(series: pd.Series) -> list[str]:
    return [None if pd.isna(t) else str(t.date()) for t in series]


def test_a_november_file_read_day_first_from_its_column():
    values = pd.Series(["19/11/2026", "01/11/2026", "", "2026-11-03 10:00", "30/11/2026 14:05", "02.11.26"])
    parsed, notes = read_dates(values, column="ts")
    # 01/11/2026 is 1 November, as 19/11 proves for the whole column (cell by cell it was 11 January)
    assert days(parsed) == ["2026-11-19", "2026-11-01", None, "2026-11-03", "2026-11-30", "2026-11-02"]
    assert parsed.iloc[4].hour == 14 and notes == []


def test_month_first_proven_by_a_second_part_over_12():
    parsed, notes = read_dates(pd.Series(["11/19/2026", "11/01/2026", "12/02/2026 2:30 PM"]), column="ts")
    assert days(parsed) == ["2026-11-19", "2026-11-01", "2026-12-02"] and parsed.iloc[2].hour == 14
    assert notes == []


def test_an_ambiguous_column_is_read_month_first_and_warned_about():
    parsed, notes = read_dates(pd.Series(["01/11/2026", "02/11/2026", "03/11/2026"]), column="submitted")
    assert days(parsed) == ["2026-01-11", "2026-02-11", "2026-03-11"]
    assert (
        len(notes) == 1 and "'submitted'" in notes[0] and "month-first" in notes[0] and "timestamp_format" in notes[0]
    )
    # the same day and month (05/05) is not ambiguous: nothing to warn about
    assert read_dates(pd.Series(["05/05/2026", "07/07/2026"]), column="t")[1] == []


def test_mixed_formats_are_warned_about_and_each_proof_kept():
    values = pd.Series(["19/11/2026", "11/20/2026", "01/02/2026", "13/13/2026"])
    parsed, notes = read_dates(values, column="ts")
    assert days(parsed) == ["2026-11-19", "2026-11-20", "2026-01-02", None]  # 13/13 is no date
    assert len(notes) == 1 and "mixes day-first" in notes[0] and "'19/11/2026'" in notes[0]
    assert "'11/20/2026'" in notes[0] and "1 dates that could be either" in notes[0]


def test_a_strptime_pattern_overrides_and_a_bad_one_is_an_error():
    parsed, notes = read_dates(pd.Series(["01/11/2026", "02/11/2026"]), column="t", timestamp_format="%d/%m/%Y")
    assert days(parsed) == ["2026-11-01", "2026-11-02"] and notes == []
    parsed, _ = read_dates(pd.Series(["2026-11-01", "01/11/2026"]), column="t", timestamp_format="%d/%m/%Y")
    assert days(parsed) == [None, "2026-11-01"]  # not in the pattern: unreadable (rejected and counted at ingest)
    with pytest.raises(RefineError, match="not a strptime pattern"):
        read_dates(pd.Series(["01/11/2026"]), column="t", timestamp_format="dd/mm/yyyy")


@pytest.mark.parametrize("pattern", ["%m/%d/%Y", "%d/%m/%Y", "%d.%m.%y", "%m-%d-%Y", "%Y-%m-%d", "%d/%m/%Y %H:%M"])
def test_customer_date_attributes_in_us_and_eu_formats_are_dates(pattern):
    truth = pd.Series(pd.date_range("2024-01-01", periods=300, freq="D"))
    column = truth.dt.strftime(pattern).rename("signup")
    assert classify_column(column) == (DATE, 300)
    assert (date_values(column) == truth).all()
    # a text column that only starts like a date stays text
    assert classify_column(pd.Series(["1/2/2024 was a Monday"] * 30)) != (DATE, 1)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config(**feedback):
    return config_from_dict(
        {
            "feedback": {"customer_id": "cid", "text": "comment", "timestamp": "submitted", **feedback},
            "customers": {"customer_id": "cid", "segment": "tier"},
        }
    )


CUSTOMERS = "cid,tier,joined\n1,Gold,19/11/2024\n2,Silver,01/11/2024\n3,Gold,05/03/2025\n"


def test_ingest_reads_feedback_timestamps_per_column(tmp_path):
    customers = write(tmp_path, "customers.csv", CUSTOMERS)
    feedback = write(
        tmp_path,
        "feedback.csv",
        "cid,comment,submitted\n1,Great app,19/11/2026\n2,Slow checkout,01/11/2026\n3,Fine,11/12/2026 09:30\n",
    )
    result = ingest(feedback, customers, config())
    assert days(result.feedback["timestamp"]) == ["2026-11-19", "2026-11-01", "2026-12-11"]
    assert not [w for w in result.warnings if "day-first" in w]
    assert result.column_kinds.kinds["joined"] == DATE  # 19/11/2024 proves the customer column day-first


def test_ingest_warns_about_an_ambiguous_column_and_the_setting_overrides(tmp_path):
    customers = write(tmp_path, "customers.csv", CUSTOMERS)
    feedback = write(tmp_path, "feedback.csv", "cid,comment,submitted\n1,Great app,01/11/2026\n2,Slow,02/11/2026\n")
    result = ingest(feedback, customers, config())
    assert days(result.feedback["timestamp"]) == ["2026-01-11", "2026-02-11"]
    assert any("'submitted'" in w and "[feedback] timestamp_format" in w for w in result.warnings)
    result = ingest(feedback, customers, config(timestamp_format="%d/%m/%Y"))
    assert days(result.feedback["timestamp"]) == ["2026-11-01", "2026-11-02"]
    assert not any("'submitted'" in w for w in result.warnings)
    with pytest.raises(RefineError, match="timestamp_format"):
        ingest(feedback, customers, config(timestamp_format="%d/%m/%Y %Q"))


def test_ab_daily_chart_starts_in_november_and_timestamp_format_overrides():
    n = 400
    frame = pd.DataFrame(
        {
            "user": [f"u{i}" for i in range(n)],
            "group": ["control", "treatment"] * (n // 2),
            "ts": [f"{1 + i % 20:02d}/11/2026" for i in range(n)],  # 13/11 .. 20/11 prove day-first
            "converted": [i % 3 == 0 for i in range(n)],
        }
    ).assign(converted=lambda f: f["converted"].astype(int))
    kw = dict(unit="user", arm="group", control="control", metrics=["converted"], timestamp="ts")
    report = analyze_experiment(frame, **kw)
    assert report["accrual"]["first_day"] == "2026-11-01" and report["accrual"]["days"] == 20
    only_ambiguous = frame.assign(ts=[f"{1 + i % 10:02d}/11/2026" for i in range(n)])
    report = analyze_experiment(only_ambiguous, **kw)
    assert report["accrual"]["first_day"] == "2026-01-11"
    assert any("'ts'" in w and "--timestamp-format" in w for w in report["warnings"])
    report = analyze_experiment(only_ambiguous, timestamp_format="%d/%m/%Y", **kw)
    assert report["accrual"]["first_day"] == "2026-11-01" and report["accrual"]["days"] == 10


def test_customer_us_dates_become_dates_so_a_rule_compares_them_as_dates(tmp_path):
    from refine.segments.rules import parse_rule

    customers = write(
        tmp_path, "customers.csv", "cid,tier,last_order\n1,Gold,12/31/2023\n2,Silver,03/01/2024\n3,Gold,\n"
    )
    feedback = write(tmp_path, "feedback.csv", "cid,comment,submitted\n1,Great app,2026-11-01\n")
    result = ingest(feedback, customers, config())
    column = result.customers["last_order"]
    assert days(column) == ["2023-12-31", "2024-03-01", None] and result.column_kinds.kinds["last_order"] == DATE
    # as text, "12/31/2023" >= "2024-02-01" would hold (as strings); as dates it does not
    assert parse_rule('last_order >= "2024-02-01"').mask(result.customers).tolist() == [False, True, False]
    ambiguous = write(tmp_path, "ambiguous.csv", "cid,tier,last_order\n1,Gold,01/02/2024\n2,Silver,03/04/2024\n")
    result = ingest(feedback, ambiguous, config())
    assert any("customer date column 'last_order'" in w and "year-first" in w for w in result.warnings)


def test_ab_analyze_takes_timestamp_format(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from refine.cli.main import app

    monkeypatch.chdir(tmp_path)
    rows = "".join(
        f"u{i},{'control' if i % 2 else 'treatment'},{i % 3 == 0:d},{1 + i % 10:02d}/11/2026\n" for i in range(200)
    )
    (tmp_path / "ab.csv").write_text("user,group,converted,ts\n" + rows)
    args = ["ab", "analyze", "--data", "ab.csv", "--unit", "user", "--arm", "group", "--control", "control"]
    args += ["--metrics", "converted", "--timestamp", "ts", "--timestamp-format", "%d/%m/%Y", "--out", "ab"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "ab" / "ab_report.json").read_text())
    assert report["accrual"]["first_day"] == "2026-11-01" and report["accrual"]["days"] == 10
