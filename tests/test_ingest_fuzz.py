"""Fuzzed ingest: whatever the bytes, refine answers with counted rows or one clear line, never a traceback."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refine.errors import RefineError
from refine.io.config import config_from_dict
from refine.io.ingest import ingest

CONFIG = config_from_dict(
    {
        "feedback": {"customer_id": "Member No", "text": "Comment Text", "id": "resp_id", "score": "rating"},
        "customers": {"customer_id": "Member No", "segment": "Tier Name"},
    }
)
CUSTOMERS = "Member No,Tier Name\n007,Gold\n7,Silver\n1.23E+05,Gold\n"
HEADER = "resp_id,Member No,Comment Text,rating\n"

cell = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "007",
            "7",
            "1.23E+05",
            "\x00",
            "=cmd()",
            "\u202eevil",
            "\U0001f600" * 5,
            "x" * 5000,
            '"quoted, comma"',
            "5",
            "11",
        ]
    ),
)
row = st.lists(cell, min_size=0, max_size=6).map(
    lambda cells: ",".join('"' + c.replace('"', '""') + '"' if any(ch in c for ch in ',"\n') else c for c in cells)
)


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
@given(
    rows=st.lists(row, max_size=12),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]),
    repeat_header=st.booleans(),
)
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


# ---- the Arrow fast path reads exactly what the python csv reader reads -------------------------------

DELIMITERS = [",", ";", "\t", "|"]
odd_cell = st.sampled_from(
    [
        "",
        "a",
        "007",
        " x ",
        '"q"',
        'a"b',
        '"a,b"',
        '"line\nbreak"',
        '"cr\rin"',
        "\u00e9",
        "\u00a0",
        "NA",
        "null",
        "1e5",
        '""',
        '"a""b"',
        '"x"y',
        " ",
        "\t",
        "#c",
        "=1+1",
    ]
)


def readers(text: str):
    """The Arrow reader's frame (None when it declines) and a call that runs the python reader."""
    from refine.io.ingest import _decode, _delimiter, _read_delimited, _read_delimited_arrow

    raw = text.encode("utf-8")
    decoded, _ = _decode(raw, None)
    delimiter = _delimiter(decoded, None)
    return _read_delimited_arrow(raw, decoded, delimiter), lambda: _read_delimited(decoded, delimiter)


def assert_same_frames(text: str) -> bool:
    fast, python_reader = readers(text)
    if fast is None:
        return False
    slow, bad, _ = python_reader()
    assert not bad, f"the fast path answered for a file the python reader rejects rows of: {text!r}"
    assert list(fast.columns) == list(slow.columns)
    assert list(fast.index) == list(slow.index)
    assert fast.astype("str").equals(slow.astype("str")), text
    return True


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(1, 4),
    delimiter=st.sampled_from(DELIMITERS),
    rows=st.lists(st.tuples(st.booleans(), st.lists(odd_cell, min_size=0, max_size=6)), max_size=6),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    tail=st.sampled_from(["", "eol", "eol2"]),
    bom=st.booleans(),
)
def test_arrow_reader_matches_python_reader(width, delimiter, rows, eol, tail, bom):
    lines = [delimiter.join(f"h{i}" for i in range(width))]
    for full, cells in rows:  # mostly rows of the header's width, some ragged
        lines.append(delimiter.join((cells + [""] * width)[:width] if full else cells))
    text = ("\ufeff" if bom else "") + eol.join(lines) + {"": "", "eol": eol, "eol2": eol * 2}[tail]
    assert_same_frames(text)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=["a", "b", ",", ";", '"', "\n", "\r", " ", "\t", "1", "\u00e9", "\ufeff"], max_size=60),
    header=st.booleans(),
)
def test_arrow_reader_matches_python_reader_on_noise(text, header):
    assert_same_frames(("h1,h2,h3\n" if header else "") + text)


def test_arrow_reader_takes_the_common_file_and_leaves_the_odd_ones():
    assert assert_same_frames('id,Segment,spend\n007,Gold,"1,200.50"\n8,"Silver ""plus""",3\n\n9,"two\nlines",4\n')
    ragged, python_reader = readers("id,x\n1,2\n3\n")
    assert ragged is None and python_reader()[1] == [(2, "row has 1 fields, header has 2")]
    nul, _ = readers("id,x\n1,2\x00\n")
    assert nul is None


@settings(max_examples=200, deadline=None)
@given(
    cells=st.lists(
        st.one_of(
            st.integers(-(10**15) + 1, 10**15 - 1).map(str),
            st.decimals(min_value=-(10**6), max_value=10**6, places=4, allow_nan=False).map(lambda d: f"{d:f}"),
            st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
            st.sampled_from(
                [
                    "",
                    " ",
                    " 12 ",
                    "+5",
                    ".5",
                    "5.",
                    "1e3",
                    "inf",
                    "1,000",
                    "0",
                    "1",
                    "-0",
                    "0012",
                    "1234567890123456789",
                    "x",
                ]
            ),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_typed_numbers_match_pandas_to_numeric(cells):
    """The Arrow parse of plain decimals gives the same typed column as pd.to_numeric."""
    import pandas as pd

    from refine.io import ingest as I

    values = pd.Series(cells, dtype=object).astype("str")
    fast = I._typed(values)
    original = I._plain_numbers
    I._plain_numbers = lambda present: None
    try:
        slow = I._typed(values)
    finally:
        I._plain_numbers = original
    assert str(fast.dtype) == str(slow.dtype), cells
    assert fast.equals(slow), cells
