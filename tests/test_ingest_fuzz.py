"""Fuzzed ingest: whatever the bytes, refine answers with counted rows or one clear line, never a traceback."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refine.config import config_from_dict
from refine.errors import RefineError
from refine.ingest import ingest

CONFIG = config_from_dict({
    "feedback": {"customer_id": "Member No", "text": "Comment Text", "id": "resp_id", "score": "rating"},
    "customers": {"customer_id": "Member No", "segment": "Tier Name"},
})
CUSTOMERS = "Member No,Tier Name\n007,Gold\n7,Silver\n1.23E+05,Gold\n"
HEADER = "resp_id,Member No,Comment Text,rating\n"

cell = st.one_of(st.text(max_size=40), st.sampled_from(["", "007", "7", "1.23E+05", "\x00", "=cmd()", "\u202eevil",
                                                        "\U0001F600" * 5, "x" * 5000, '"quoted, comma"', "5", "11"]))
row = st.lists(cell, min_size=0, max_size=6).map(lambda cells: ",".join(
    '"' + c.replace('"', '""') + '"' if any(ch in c for ch in ',"\n') else c for c in cells))


def check(tmp_path, payload: bytes, suffix: str = ".csv") -> None:
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    path = tmp_path / f"feedback{suffix}"
    path.write_bytes(payload)
    try:
        result = ingest(path, tmp_path / "customers.csv", CONFIG)
    except RefineError as exc:
        assert "\n" not in str(exc)
        return
    c = result.counts
    assert c["feedback_accepted"] + c["feedback_rejected"] == c["feedback_in"]
    assert len(result.feedback) == c["feedback_accepted"]
    assert set(result.feedback["customer_id"]) <= {"007", "7", "1.23E+05"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, max_size=12), encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]),
       repeat_header=st.booleans())
def test_ragged_rows_encodings_and_repeated_headers(tmp_path, rows, encoding, repeat_header):
    text = HEADER + "\n".join(rows) + ("\n" + HEADER if repeat_header else "")
    check(tmp_path, text.encode(encoding, errors="replace"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".jsonl", ".parquet", ".tsv"]))
def test_random_bytes(tmp_path, payload, suffix):
    check(tmp_path, payload, suffix)


def test_megabyte_comment_and_leading_zero_ids(tmp_path):
    text = HEADER + "r1,007," + "a" * 1_000_000 + ",5\nr2,7,short and fine,4\n"
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "feedback.csv").write_text(text)
    result = ingest(tmp_path / "feedback.csv", tmp_path / "customers.csv", CONFIG)
    assert result.feedback["customer_id"].tolist() == ["007", "7"]
    assert result.counts["feedback_truncated"] == 1
