"""A missing or unreadable score is a missing score (issue 29, point 4): the comment stays, the count is reported;
a scale most scores lie outside is a wrong scale, and the run stops and says so."""

from __future__ import annotations

import pandas as pd
import pytest

from refine.errors import RefineError
from refine.io.config import config_from_dict
from refine.io.ingest import ingest

CUSTOMERS = "cid,tier\n" + "".join(f"{i},{'Gold' if i % 2 else 'Silver'}\n" for i in range(1, 13))


def run_ingest(tmp_path, scores: list[str], **feedback):
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    rows = "".join(f"{i},Comment number {i} about delivery,{s}\n" for i, s in enumerate(scores, start=1))
    (tmp_path / "feedback.csv").write_text("cid,comment,rating\n" + rows)
    config = config_from_dict(
        {
            "feedback": {"customer_id": "cid", "text": "comment", "score": "rating", **feedback},
            "customers": {"customer_id": "cid", "segment": "tier"},
        }
    )
    return ingest(tmp_path / "feedback.csv", tmp_path / "customers.csv", config)


def test_skipped_ratings_keep_their_comments_with_a_missing_score(tmp_path):
    scores = ["5", "N/A", "", "-", "n/a", "?", "4", "3", "great", "2"]
    result = run_ingest(tmp_path, scores, score_kind="stars")
    assert len(result.feedback) == 10 and result.counts["feedback_rejected"] == 0
    assert result.feedback["score"].iloc[0] == 5.0 and pd.isna(result.feedback["score"].iloc[1])
    assert int(result.feedback["score"].isna().sum()) == 6
    c = result.counts
    assert (c["feedback_score_missing"], c["feedback_score_unreadable"], c["feedback_score_out_of_scale"]) == (5, 1, 0)
    # the four skip markers are named; the empty cell is counted only (no rating is ordinary for tickets)
    assert any(
        w.startswith("4 feedback rows have a score that is skipped (N/A, -, ?), e.g. 'N/A'") for w in result.warnings
    )
    assert any("not a number, e.g. 'great'" in w for w in result.warnings)


def test_a_few_scores_outside_the_scale_are_missing_and_counted(tmp_path):
    result = run_ingest(tmp_path, ["5", "4", "9", "1", "0", "3", "2"], score_kind="stars")
    assert len(result.feedback) == 7 and result.counts["feedback_score_out_of_scale"] == 2
    assert result.feedback["score"].isna().sum() == 2
    assert any("2 feedback scores in 'rating' lie outside the scale 1-5" in w for w in result.warnings)


def test_most_scores_outside_the_scale_stop_the_run_naming_it(tmp_path):
    with pytest.raises(RefineError) as caught:
        run_ingest(tmp_path, ["9", "10", "7", "8", "2", "6"], score_kind="stars")
    message = str(caught.value)
    assert "\n" not in message and "'rating'" in message and "scale 1-5 (stars)" in message
    assert "run from 2 to 10" in message and "score_scale" in message
