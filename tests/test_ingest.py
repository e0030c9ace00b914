import json
import warnings

import pandas as pd
import pytest

from refine.errors import RefineError
from refine.io.config import config_from_dict
from refine.io.ingest import ingest, read_table


def make_config(**feedback):
    return config_from_dict(
        {
            "feedback": {"customer_id": "Member No", "text": "Comment Text", **feedback},
            "customers": {
                "customer_id": "Member No",
                "segment": "Tier Name",
                "outcomes": ["churned"],
                "exclude": ["contact_email"],
            },
        }
    )


CUSTOMERS = (
    "Member No,Tier Name,region,age,churned,contact_email\n"
    "007,Gold,west,34,0,a@example.com\n"
    "8,Silver,east,51,1,b@example.com\n"
    "9,Gold,north,40,0,c@example.com\n"
    "9,Gold,north,41,0,dup@example.com\n"
    ",Gold,north,41,0,\n"
)


def plain_config(feedback: dict | None = None, **customers):
    """Member No / Comment Text / Tier Name, and nothing else unless asked."""
    return config_from_dict(
        {
            "feedback": {"customer_id": "Member No", "text": "Comment Text", **(feedback or {})},
            "customers": {"customer_id": "Member No", "segment": "Tier Name", **customers},
        }
    )


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_every_row_is_accounted_for(tmp_path):
    feedback = write(
        tmp_path,
        "feedback.csv",
        "resp_id,Member No,Comment Text,rating\n"
        "r1,007,Love it - write me at jane@example.com,5\n"
        "r2,8,   ,3\n"
        "r3,404,Who am I,4\n"
        "r4,007,Love it - write me at jane@example.com,5\n"
        "r1,9,Same id again,4\n"
        "r6,9,Score is words,great\n"
        "r7,7,The 7 is not 007,2\n"
        "resp_id,Member No,Comment Text,rating\n"
        "r9,9,Fine, extra field,3\n"
        "r10,8,Call me on +1 415-555-0132 about card 4111 1111 1111 1111,1\n",
    )
    customers = write(tmp_path, "customers.csv", CUSTOMERS)
    result = ingest(feedback, customers, make_config(id="resp_id", score="rating", score_scale=[1, 5]))
    c = result.counts
    assert c["feedback_in"] == 10 and c["feedback_accepted"] + c["feedback_rejected"] == 10
    assert c["customers_in"] == 5 and c["customers_accepted"] == 3 and c["customers_rejected"] == 2
    reasons = dict(
        zip(
            result.rejects[result.rejects.table == "feedback"]["id"],
            result.rejects[result.rejects.table == "feedback"]["reason"],
        )
    )
    assert reasons["r2"] == "blank text"
    assert reasons["r3"] == "unknown customer"
    assert reasons["r4"] == "exact duplicate submission"
    assert reasons["r1"] == "duplicate feedback id"
    assert "r6" not in reasons  # a score of words is a missing score: the comment is kept (issue 29)
    r6 = result.feedback.set_index("feedback_id").loc["r6"]
    assert r6["text"] == "Score is words" and pd.isna(r6["score"]) and c["feedback_score_unreadable"] == 1
    assert reasons["r7"] == "unknown customer"  # ids are strings: "7" is not "007"
    assert reasons["resp_id"] == "repeated header row"
    assert any("fields" in r for r in result.rejects["reason"])
    customer_reasons = set(result.rejects[result.rejects.table == "customers"]["reason"])
    assert customer_reasons == {"duplicate customer id", "missing customer id"}
    texts = " ".join(result.feedback["text"])
    assert "jane@example.com" not in texts and "[EMAIL]" in texts
    assert "4111" not in texts and "555-0132" not in texts
    assert "contact_email" not in result.customers.columns
    assert "churned" not in result.attributes and "region" in result.attributes
    assert result.customers["Member No"].tolist() == ["007", "8", "9"]


def test_encodings_and_formats(tmp_path):
    customers = write(tmp_path, "customers.csv", CUSTOMERS)
    rows = (
        "Member No,Comment Text\n007,Caf\u00e9 cr\u00e8me was cold\n8,\u0645\u0631\u062d\u0628\u0627 good \U0001f600\n"
    )
    for name, encoding in (("utf16.csv", "utf-16"), ("latin.csv", "latin-1")):
        text = rows if encoding == "utf-16" else rows.replace("\u0645\u0631\u062d\u0628\u0627 good \U0001f600", "bon")
        result = ingest(write(tmp_path, name, text, encoding), customers, make_config())
        assert result.counts["feedback_accepted"] == 2
        assert "Caf\u00e9" in result.feedback["text"].iloc[0]
    jsonl = tmp_path / "f.jsonl"
    jsonl.write_text(json.dumps({"Member No": "007", "Comment Text": "ok then"}) + "\nnot json\n")
    result = ingest(jsonl, customers, make_config())
    assert result.counts["feedback_in"] == 2 and result.counts["feedback_rejected"] == 1
    parquet = tmp_path / "f.parquet"
    pd.DataFrame({"Member No": ["007", "8"], "Comment Text": ["fine", "slow delivery"]}).to_parquet(parquet)
    assert ingest(parquet, customers, make_config()).counts["feedback_accepted"] == 2


def test_missing_column_names_file_and_column(tmp_path):
    customers = write(tmp_path, "customers.csv", CUSTOMERS)
    feedback = write(tmp_path, "feedback.csv", "Member No,Body\n007,hello\n")
    with pytest.raises(RefineError) as err:
        ingest(feedback, customers, make_config())
    assert "'Comment Text'" in str(err.value) and "feedback.csv" in str(err.value)


def test_outcome_must_be_numeric(tmp_path):
    customers = write(tmp_path, "customers.csv", "Member No,Tier Name,churned,contact_email\n1,Gold,maybe,x\n")
    feedback = write(tmp_path, "feedback.csv", "Member No,Comment Text\n1,hello\n")
    with pytest.raises(RefineError, match="outcome column 'churned' must be numeric"):
        ingest(feedback, customers, make_config())


def test_unreadable_and_missing_files(tmp_path):
    customers = write(tmp_path, "customers.csv", CUSTOMERS)
    with pytest.raises(RefineError, match="not found"):
        ingest(tmp_path / "nope.csv", customers, make_config())
    bad = tmp_path / "f.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(RefineError, match="cannot read feedback file"):
        ingest(bad, customers, make_config())
    with pytest.raises(RefineError, match="unsupported file type"):
        ingest(write(tmp_path, "f.xlsx", "x"), customers, make_config())


def test_long_texts_truncated_and_counted(tmp_path):
    customers = write(tmp_path, "customers.csv", CUSTOMERS)
    feedback = write(tmp_path, "feedback.csv", "Member No,Comment Text\n007," + "slow " * 400000 + "\n")
    result = ingest(feedback, customers, make_config())
    assert result.counts["feedback_truncated"] == 1
    assert len(result.feedback["text"].iloc[0]) == 5000


def test_nul_bytes_and_excel_ids(tmp_path):
    customers = write(tmp_path, "customers.csv", CUSTOMERS + "1.23E+05,Gold,west,30,0,\n")
    feedback = write(tmp_path, "feedback.csv", "Member No,Comment Text\n007,bad\x00 zip\n")
    result = ingest(feedback, customers, make_config())
    assert result.feedback["text"].iloc[0] == "bad zip"
    assert any("spreadsheet" in w for w in result.warnings)


def test_read_table_keeps_ids_as_text(tmp_path):
    table = read_table(write(tmp_path, "c.csv", "id,x\n007,1\n"), what="customers")
    assert table.frame["id"].tolist() == ["007"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_rejects_name_the_data_row_of_the_file(tmp_path, suffix):
    """A reject's row is the 1-based data row (CSV) or line (JSONL) the user can find in the file."""
    write(tmp_path, "c.csv", "Member No,Tier Name\nC1,A\nC2\nC1,B\n,A\nC3,A\n")
    feedback = [("r1", "C1", "hello there"), ("r2", "C9", "unknown customer"), ("r3", "C3", "")]
    if suffix == ".csv":
        body = "resp,Member No,Comment Text\n" + "".join(f"{a},{b},{c}\n" for a, b, c in feedback)
    else:
        body = "".join(json.dumps({"resp": a, "Member No": b, "Comment Text": c}) + "\n" for a, b, c in feedback)
    write(tmp_path, f"f{suffix}", body)
    result = ingest(tmp_path / f"f{suffix}", tmp_path / "c.csv", plain_config({"id": "resp"}))
    rows = {(r.table, r.row): r.reason for r in result.rejects.itertuples()}
    ids = {(r.table, r.row): r.id for r in result.rejects.itertuples()}
    assert ids[("customers", 2)] == "C2"  # a ragged row still names its customer when the id cell was read
    assert rows == {
        ("customers", 2): "row has 1 fields, header has 2",
        ("customers", 3): "duplicate customer id with another segment (A kept, B dropped)",
        ("customers", 4): "missing customer id",
        ("feedback", 2): "unknown customer",
        ("feedback", 3): "blank text",
    }
    assert result.feedback["row"].tolist() == [1]


def test_non_finite_numbers_stay_floats(tmp_path):
    write(tmp_path, "c.csv", "Member No,Tier Name,limit\n1,A,inf\n2,B,3\n")
    write(tmp_path, "f.csv", "Member No,Comment Text\n1,fine thanks\n")
    result = ingest(tmp_path / "f.csv", tmp_path / "c.csv", plain_config())
    assert result.customers["limit"].dtype == float


def test_an_address_across_the_cut_is_redacted_not_halved(tmp_path):
    customers = write(tmp_path, "customers.csv", CUSTOMERS)
    text = "x" * 190 + " andrew.longname@company.example.com and more words after it"
    feedback = write(tmp_path, "feedback.csv", f"Member No,Comment Text\n007,{text}\n")
    config = make_config()
    config.feedback.max_text_chars = 200
    result = ingest(feedback, customers, config)
    kept = result.feedback["text"].iloc[0]
    assert "[EMAIL]" in kept and "andrew" not in kept and len(kept) <= 200
    assert result.counts["feedback_redacted"] == 1
    # many addresses shrink the text: a card number far past the limit must not slide under it half-cut
    text = " ".join(f"user{i:02d}.longer.name@example-company.com" for i in range(16)) + " " + "f" * 60
    text += " secretlocalpartzz@secret.example.org 4929 1234 5678 9012 end"
    feedback = write(tmp_path, "feedback.csv", f"Member No,Comment Text\n007,{text}\n")
    kept = ingest(feedback, customers, config).feedback["text"].iloc[0]
    assert "secret" not in kept and "4929" not in kept and len(kept) <= 200, kept


def test_missing_value_spellings_in_a_numeric_column(tmp_path):
    """'NA' among numbers is a missing value (and said so); among words it is a word."""
    write(tmp_path, "c.csv", "Member No,Tier Name,churned,plan\n1,A,0,basic\n2,B,NA,None\n3,A,1,pro\n4,B, n/a ,basic\n")
    write(tmp_path, "f.csv", "Member No,Comment Text\n1,fine thanks\n")
    result = ingest(tmp_path / "f.csv", tmp_path / "c.csv", plain_config(outcomes=["churned"]))
    churned = result.customers["churned"]
    assert churned.dtype == float and churned.isna().tolist() == [False, True, False, True]
    assert result.customers["plan"].tolist() == ["basic", "None", "pro", "basic"]
    assert any("2 cells of the numeric column 'churned' read as missing" in w for w in result.warnings)


def test_an_unclosed_quote_is_named_as_the_likely_cause(tmp_path):
    write(tmp_path, "c.csv", "Member No,Tier Name\n1,A\n2,B\n")
    write(tmp_path, "f.csv", 'Member No,Comment Text\n1,"never closed\n2,second row\n1,third row\n')
    result = ingest(tmp_path / "f.csv", tmp_path / "c.csv", plain_config())
    # the csv reader reads the rest of the file into the open quote: one row, but not a silent one
    assert result.counts["feedback_in"] == 1
    assert any(
        "f.csv row 1" in w and "unclosed quote" in w and "2 of which look like whole rows" in w for w in result.warnings
    ), result.warnings
    # a quote left open among rows with more fields: the reject says why
    write(tmp_path, "g.csv", 'Member No,Comment Text,rating\n1,"never closed,5\n2,second row,4\n1,third "row",3\n')
    result = ingest(tmp_path / "g.csv", tmp_path / "c.csv", plain_config())
    assert result.counts["feedback_accepted"] + result.counts["feedback_rejected"] == result.counts["feedback_in"]


def test_a_broken_rows_id_is_redacted(tmp_path):
    """A ragged row's first cell can be comment text; its reject id is redacted like any text."""
    write(tmp_path, "c.csv", "Member No,Tier Name\n1,A\n")
    write(tmp_path, "f.csv", "resp,Member No,Comment Text\nmail rag@leak.com or 555-777-8888,1,oops,7\nr2,1,fine\n")
    result = ingest(tmp_path / "f.csv", tmp_path / "c.csv", plain_config({"id": "resp"}))
    assert result.rejects["id"].tolist() == ["mail [EMAIL] or [PHONE]"]


def test_a_properly_quoted_multiline_review_is_no_unclosed_quote(tmp_path):
    write(tmp_path, "c.csv", "Member No,Tier Name\n1,A\n2,B\n")
    review = '"Loved the app.\nShipping, packaging, support: all fine\n\nWould buy again, 5 stars"'
    write(tmp_path, "f.csv", f"Member No,Comment Text,rating\n1,{review},5\n2,Short one,4\n")
    result = ingest(tmp_path / "f.csv", tmp_path / "c.csv", plain_config())
    assert result.counts["feedback_accepted"] == 2 and "Shipping, packaging" in result.feedback["text"].iloc[0]
    assert not any("quote" in w for w in result.warnings), result.warnings


def test_unclosed_quote_warnings_are_capped_with_and_n_more(tmp_path):
    write(tmp_path, "c.csv", "Member No,Tier Name\n1,A\n2,B\n3,A\n")
    block = '1,"opened\n2,swallowed row\n3,closed here"\n'
    write(tmp_path, "f.csv", "Member No,Comment Text\n" + block * 8)
    result = ingest(tmp_path / "f.csv", tmp_path / "c.csv", plain_config())
    named = [w for w in result.warnings if "unclosed quote may have joined" in w]
    assert len(named) == 5 and "f.csv: and 3 more cells like these" in result.warnings


def test_zoned_timestamps_are_naive_utc_without_a_pandas_4_warning(tmp_path):
    """Timestamps with an offset are held as naive UTC; taking them out of a zoned column went through
    `Series.values`, which pandas 3.1 warns will keep the zone in pandas 4 (Pandas4Warning)."""
    feedback = write(
        tmp_path,
        "feedback.csv",
        "Member No,Comment Text,sent\n007,Parcel late,2026-03-01T10:00:00+02:00\n8,Fine,2026-03-02T09:30:00Z\n8,Ok,\n",
    )
    customers = write(tmp_path, "customers.csv", CUSTOMERS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # Pandas4Warning is one
        result = ingest(feedback, customers, make_config(timestamp="sent"))
    stamps = result.feedback["timestamp"]
    assert stamps.dt.tz is None
    assert stamps.tolist()[:2] == [pd.Timestamp("2026-03-01 08:00:00"), pd.Timestamp("2026-03-02 09:30:00")]
    assert pd.isna(stamps.iloc[2])
