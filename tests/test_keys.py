"""Keys leave exactly as they came: ids read as text, matched without edge spaces / BOM, written byte for byte.

One small table of awkward ids (E.164 numbers, a negative number, a handle, leading zeros, an id padded with
spaces, a BOM at the start of the file, a blank id) goes through `refine run` (hashing embedder), `refine assign`
and `refine ab plan`; every file that carries an id must hold the input's bytes.
"""

import csv
import io
import json
import os
import stat

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from refine.cli.main import app
from refine.files import atomic_write
from refine.io.keys import likely_causes, mask_id

runner = CliRunner()

AWKWARD = ["+447700900123", "-12", "@handle", "001848", " 42 ", "=SUM(A1)"]
CONFIG = """[feedback]
customer_id = "Member No"
text = "Comment Text"
id = "Response ID"
[customers]
customer_id = "Member No"
segment = "Tier Name"
outcomes = ["churned"]
"""
COMMENTS = ["parcel arrived late again", "great staff in the shop", "app keeps crashing at checkout", "fair prices"]


def _rows(ids):
    return [(cid, "Gold" if i % 2 else "-Silver", "west" if i % 3 else "east", str(i % 2)) for i, cid in enumerate(ids)]


def write_inputs(tmp_path):
    ids = AWKWARD + [f"C{i:04d}" for i in range(60)]
    customers = io.StringIO()
    writer = csv.writer(customers, lineterminator="\n")
    writer.writerow(["Member No", "Tier Name", "region", "churned"])
    writer.writerows(_rows(ids))
    writer.writerow(["", "Gold", "west", "0"])  # a blank id: rejected, and no other id turns into a number
    # a BOM at the start of the file, as Excel writes it
    (tmp_path / "customers.csv").write_bytes(b"\xef\xbb\xbf" + customers.getvalue().encode())
    feedback = io.StringIO()
    writer = csv.writer(feedback, lineterminator="\n")
    writer.writerow(["Response ID", "Member No", "Comment Text"])
    for i, cid in enumerate(ids):
        # the survey tool trims " 42 ": matched after trimming, written as the customer table holds it
        writer.writerow([f"+{i}" if i % 2 else f"-{i}", cid.strip() if cid == " 42 " else cid, COMMENTS[i % 4]])
    writer.writerow(["@blank", AWKWARD[0], ""])  # blank text: rejected with its id as read
    (tmp_path / "feedback.csv").write_bytes(b"\xef\xbb\xbf" + feedback.getvalue().encode())
    (tmp_path / "refine.toml").write_text(CONFIG)
    return ids


def csv_column(path, column):
    with open(path, encoding="utf-8", newline="") as handle:
        return [row[column] for row in csv.DictReader(handle)]


def test_ids_round_trip_byte_for_byte(tmp_path, hashing_model):
    ids = write_inputs(tmp_path)
    base = ["--config", str(tmp_path / "refine.toml")]
    result = runner.invoke(
        app,
        ["run", "--feedback", str(tmp_path / "feedback.csv"), "--customers", str(tmp_path / "customers.csv")]
        + base
        + ["--out", str(tmp_path / "run"), "--quiet"],
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    feedback = pq.read_table(run / "feedback.parquet").to_pydict()
    assert set(feedback["customer_id"]) == set(ids)  # " 42 " as the customer table holds it, not "42"
    assert set(feedback["feedback_id"]) == {f"+{i}" if i % 2 else f"-{i}" for i in range(len(ids))}
    assert set(pq.read_table(run / "assignments.parquet").column("customer_id").to_pylist()) == set(ids)
    rejects = {r["reason"]: r["id"] for r in csv.DictReader(open(run / "rejects.csv", encoding="utf-8"))}
    assert rejects == {"blank text": "@blank", "missing customer id": ""}

    out = tmp_path / "assigned.csv"
    result = runner.invoke(
        app, ["assign", "--run", str(run), "--customers", str(tmp_path / "customers.csv"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert csv_column(out, "Member No") == ids
    assert set(csv_column(out, "segment")) == {"Gold", "-Silver"}  # segment names are CRM values too

    plan = tmp_path / "plan"
    args = ["--customer-id", "Member No", "--segment", "Tier Name", "--metric", "churned", "--mde", "0.2"]
    result = runner.invoke(
        app,
        ["ab", "plan", "--customers", str(tmp_path / "customers.csv"), "--rule", 'region in ["west", "east"]', *args]
        + ["--out", str(plan)],
    )
    assert result.exit_code == 0, result.output
    assert sorted(csv_column(plan / "assignments.csv", "Member No")) == sorted(ids)  # the blank id left out
    raw = (plan / "assignments.csv").read_bytes()
    assert b"\n+447700900123," in raw and b"\n-12," in raw and b"'" not in raw


def test_ids_that_match_nowhere_are_explained_and_rejects_csv_is_written(tmp_path):
    (tmp_path / "customers.csv").write_text("Member No,Tier Name,churned\n1848,Gold,0\n77,Silver,1\n")
    (tmp_path / "feedback.csv").write_text(
        "Response ID,Member No,Comment Text\nr1,001848,late parcel\nr2,000077,rude staff\nr3,000077,no reply\n"
    )
    (tmp_path / "refine.toml").write_text(CONFIG)
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        ["run", "--feedback", str(tmp_path / "feedback.csv"), "--customers", str(tmp_path / "customers.csv")]
        + ["--config", str(tmp_path / "refine.toml"), "--out", str(out), "--quiet"],
    )
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert len(message.splitlines()) == 1
    assert "3 feedback rows (2 distinct customer ids) match no customer id" in message
    assert "0018••" in message and "0000••" in message and "18••" in message  # the shape, not the value
    assert "001848" not in message and "1848," not in message
    assert "leading zeros" in message and str(out / "rejects.csv") in message
    rows = list(csv.DictReader(open(out / "rejects.csv", encoding="utf-8")))
    assert len(rows) == 3 and {r["reason"] for r in rows} == {"unknown customer"}
    assert not (out / "run.json").exists()


def test_masks_keep_the_form_not_the_value():
    assert mask_id("001848") == "0018••" and mask_id("1848") == "18••" and mask_id("42") == "4•"
    assert mask_id("+447700900123") == "+44••••••••23"
    assert mask_id("ab\ncdef") == "ab•cd••" and mask_id("x" * 5000) == "xxx" + "•" * 10 + "…xx"
    assert likely_causes(["CUST-1848"], ["1848"])[0][0].startswith("a prefix")
    assert likely_causes(["1848.0"], ["1848"])[0][0].startswith("a number read as text")
    assert likely_causes(["+44 7700 900123"], ["+447700900123"])[0][0].startswith("spaces or separators")
    assert likely_causes(["abc"], ["xyz"]) == []


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_files_take_the_umask_permissions(tmp_path, umask, mode):
    before = os.umask(umask)
    try:
        atomic_write(tmp_path / "report.json", lambda tmp: tmp.write_text(json.dumps({"ok": 1})))
    finally:
        os.umask(before)
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == mode
