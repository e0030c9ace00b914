"""Typed results read like the dicts of refine 0.2, for one more minor version, with a warning."""

import warnings

import numpy as np
import pytest

from refine.records import RecordDictAccessWarning
from refine.segments.model import Evidence, Proposal, ProposalResult
from refine.text.themes.model import Theme


def _proposal() -> Proposal:
    return Proposal(
        id="split-1",
        kind="split",
        segments=["Silver"],
        rule='segment == "Silver" and uses_app == False',
        customers=120,
        respondents=40,
        evidence=Evidence(holdout_q=0.01, discovery=[{"measure": "churned", "diff": 0.12}]),
        confirmed=True,
    )


def test_dict_reads_give_the_json_form_with_a_deprecation_warning():
    proposal = _proposal()
    with pytest.warns(RecordDictAccessWarning, match=r"proposal\['rule'\].*proposal\.rule"):
        assert proposal["rule"] == proposal.rule
    with pytest.warns(RecordDictAccessWarning):
        assert proposal["evidence"]["holdout_q"] == 0.01  # nested records read as their JSON form
    with pytest.warns(RecordDictAccessWarning):
        assert proposal.get("absent", "default") == "default"
    with pytest.warns(RecordDictAccessWarning):
        assert "confirmed" in proposal
    with pytest.warns(RecordDictAccessWarning):
        assert dict(proposal.items()) == proposal.to_json()
    with pytest.raises(KeyError), pytest.warns(RecordDictAccessWarning):
        proposal["absent"]


def test_the_warning_names_the_callers_line_and_is_a_deprecation_warning():
    assert issubclass(RecordDictAccessWarning, DeprecationWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _proposal()["kind"]
    assert caught and caught[0].filename == __file__


def test_themes_read_like_their_topics_json_record():
    theme = Theme(
        id=3,
        label="Late delivery",
        keywords=["late"],
        size=40,
        centroid=np.ones(2) / np.sqrt(2),
        quotes=["It came a week late."],
        status="stable",
        share=0.2,
        mean_sentiment=-0.4,
    )
    with pytest.warns(RecordDictAccessWarning):
        assert theme["share"] == 0.2 and theme["label"] == "Late delivery"
    assert theme.to_record(n_comments=100)["share"] == 0.4  # the share of the cycle it is counted in
    assert theme.to_record()["share"] == 0.2


def test_proposal_result_round_trips_through_proposals_json():
    result = ProposalResult(proposals=[_proposal()], stopped=[], method=ProposalResult.from_json({}).method)
    again = ProposalResult.from_json(result.to_json())
    assert again.to_json() == result.to_json()
    assert again.proposals[0].evidence.discovery == [{"measure": "churned", "diff": 0.12}]
