"""Value touched and value at risk per theme, segment and proposal."""

import pandas as pd
import pytest

from refine import schemas as S
from refine.errors import RefineError
from refine.segments.value import ValueResult, churn_outcomes, value_at_risk

CUSTOMERS = pd.DataFrame(
    {
        "id": ["a", "b", "c", "d", "e"],
        "tier": ["Gold", "Gold", "Silver", "Silver", "Silver"],
        "region": ["north", "south", "north", "south", "north"],
        "arr": [1000.0, 500.0, 200.0, None, 50.0],
        "churned_90d": [0, 0, 1, 0, 0],
        "revenue_12m": [1.0, 2.0, 3.0, 4.0, 5.0],
    }
)
FEEDBACK = pd.DataFrame(
    {
        S.CUSTOMER_ID: ["a", "a", "b", "d", "e"],
        S.SENTIMENT_LABEL: ["negative", "negative", "positive", "positive", "positive"],
        S.SCORE: [8, 7, 9, 3, 10],
        S.TOPIC_ID: [0, 1, 0, 1, -1],
    }
)


def compute(**kw):
    return value_at_risk(
        CUSTOMERS,
        FEEDBACK,
        customer_id="id",
        segment="tier",
        value_column="arr",
        outcomes=["churned_90d", "revenue_12m"],
        score_kind="nps",
        topic_labels={0: "delivery", 1: "app"},
        proposals=[{"id": "p1", "kind": "new", "segments": ["Gold", "Silver"], "rule": 'region == "north"'}],
        **kw,
    )


def test_value_touched_and_at_risk():
    result = compute()
    # unhappy: a (all comments negative), d (a detractor's 3); churning: c. Not b, not e.
    assert result.churn_outcomes == ["churned_90d"]
    assert result.total_value == 1750.0 and result.missing_values == 1
    assert result.total_at_risk == 1200.0  # a 1000 + c 200 + d 0 (blank)
    delivery = result.line("themes", 0)
    assert (delivery.customers, delivery.value, delivery.value_at_risk) == (2, 1500.0, 1000.0)
    app = result.line("themes", 1)
    assert (app.customers, app.value, app.value_at_risk, app.at_risk_customers) == (2, 1000.0, 1000.0, 2)
    # ranked by count the two themes tie (delivery first by id); by value at risk too, then value breaks it
    assert delivery.rank_by_value == 1 and app.rank_by_value == 2
    silver = result.line("segments", "Silver")
    assert (silver.customers, silver.respondents, silver.value, silver.value_at_risk) == (3, 2, 250.0, 200.0)
    north = result.line("proposals", "p1")
    assert (north.customers, north.value, north.value_at_risk) == (3, 1250.0, 1200.0)
    assert ValueResult.from_json(result.to_json()) == result


def test_value_column_must_be_numeric():
    bad = CUSTOMERS.assign(arr=["1000", "lots", "2", "3", "4"])
    with pytest.raises(RefineError, match="must be numeric"):
        value_at_risk(
            bad,
            FEEDBACK,
            customer_id="id",
            segment="tier",
            value_column="arr",
            outcomes=[],
            score_kind=None,
            topic_labels={},
            proposals=[],
        )


def test_only_binary_outcomes_named_churn_mark_churners():
    assert churn_outcomes(CUSTOMERS, ["churned_90d", "revenue_12m"]) == ["churned_90d"]
    assert churn_outcomes(CUSTOMERS.assign(churned_90d=[0.5, 0, 1, 0, 0]), ["churned_90d"]) == []
