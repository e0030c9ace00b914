"""Degenerate inputs are named (issue 29, point 2, the ingest half): a warning that says what to change, or a
one-line refusal where nothing useful can run."""

from __future__ import annotations

import pytest

from refine.errors import RefineError
from refine.io.config import config_from_dict
from refine.io.ingest import ingest


def run_ingest(tmp_path, customers: str, feedback: str, **feedback_keys):
    (tmp_path / "customers.csv").write_text(customers)
    (tmp_path / "feedback.csv").write_text(feedback)
    config = config_from_dict(
        {
            "feedback": {"customer_id": "cid", "text": "comment", **feedback_keys},
            "customers": {"customer_id": "cid", "segment": "tier", "outcomes": ["churned"]},
        }
    )
    return ingest(tmp_path / "feedback.csv", tmp_path / "customers.csv", config)


COMMENTS = "cid,comment,rating\n" + "".join(f"{i},Comment {i} on the parcel,{1 + i % 5}\n" for i in range(1, 10))


def test_an_empty_outcome_and_a_single_segment_are_named(tmp_path):
    customers = "cid,tier,churned\n" + "".join(f"{i},Gold,\n" for i in range(1, 10))
    result = run_ingest(tmp_path, customers, COMMENTS)
    assert len(result.feedback) == 9
    assert any("outcome column 'churned' is empty for every customer" in w for w in result.warnings)
    assert any("every customer is in one segment ('Gold' in 'tier')" in w for w in result.warnings)


def test_customers_with_a_blank_segment_are_named_and_their_comments_say_why(tmp_path):
    customers = "cid,tier,churned\n" + "".join(
        f"{i},{'' if i % 3 == 0 else 'Gold' if i % 2 else 'Silver'},0\n" for i in range(1, 10)
    )
    result = run_ingest(tmp_path, customers, COMMENTS + "404,Who is this,3\n")
    reasons = result.rejects[result.rejects.table == "feedback"]["reason"].tolist()
    assert reasons.count("customer row rejected (missing segment)") == 3 and reasons.count("unknown customer") == 1
    assert any(
        w.startswith("3 of 9 customers have a blank 'tier'") and "their 3 comments" in w for w in result.warnings
    )
    assert not any("one segment" in w for w in result.warnings)


def test_a_single_comment_is_named(tmp_path):
    customers = "cid,tier,churned\n1,Gold,0\n2,Silver,1\n"
    result = run_ingest(tmp_path, customers, "cid,comment\n1,Parcel was late\n")
    assert any(w.startswith("only 1 comment was accepted") for w in result.warnings)


@pytest.mark.parametrize(
    "keys, fragment",
    [
        ({"text": "cid"}, "[feedback] text and [feedback] customer_id both name 'cid'"),
        ({"text": "rating"}, "[feedback] text 'rating' holds numbers, not comments"),
    ],
)
def test_text_mapped_to_an_id_or_a_number_column_is_refused(tmp_path, keys, fragment):
    customers = "cid,tier,churned\n" + "".join(f"{i},{'Gold' if i % 2 else 'Silver'},0\n" for i in range(1, 10))
    with pytest.raises(RefineError) as caught:
        run_ingest(tmp_path, customers, COMMENTS, **keys)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
