"""The synthetic company: deterministic, realistic, and carrying exactly the structure truth.json claims."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from refine.demo.company import _PHRASES, SEGMENTS, THEMES, generate_company, write_demo_data
from refine.errors import RefineError
from refine.io.config import load_config
from refine.segments.rules import apply_rule

DELIVERY_WORDS = re.compile(r"deliver|shipping|parcel|tracking|courier|depot|turned up", re.I)
APP_WORDS = re.compile(r"\bapp\b|log ?in|logged out|crash", re.I)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
CARD = re.compile(r"\b(?:\d[ -]?){15}\d\b")
PHONE = re.compile(r"(?:\+\d{1,2}\s?)?(?:\(\d{3}\)|\d{2,3})[\s.-]?\d{3,4}[\s.-]?\d{4}")


@pytest.fixture(scope="module")
def company():
    return generate_company(seed=0)


@pytest.fixture(scope="module")
def big():
    """Large enough that planted effects and their absence are both far outside sampling noise."""
    return generate_company(seed=11, n_customers=20000)


@pytest.fixture(scope="module")
def big_null():
    return generate_company(seed=11, n_customers=20000, null=True)


def respondents(c) -> pd.DataFrame:
    """Clean feedback rows joined to customers, with the hidden labels alongside."""
    rows = c.feedback.assign(theme=c.labels["theme"], tone=c.labels["tone"], quality=c.labels["quality"])
    rows = rows[rows["quality"] == ""].merge(c.customers, on="Customer ID", how="inner")
    rows["text_delivery"] = rows["Comment Text"].str.contains(DELIVERY_WORDS)
    rows["text_app"] = rows["Comment Text"].str.contains(APP_WORDS)
    return rows


def within_segment_gap(frame: pd.DataFrame, group: pd.Series, value: str) -> float:
    """Mean of `value` in the group minus outside it, averaged over segments weighted by size."""
    gaps, weights = [], []
    for _, part in frame.groupby("Segment"):
        g = group.loc[part.index]
        if g.sum() >= 20 and (~g).sum() >= 20:
            gaps.append(part.loc[g, value].astype(float).mean() - part.loc[~g, value].astype(float).mean())
            weights.append(len(part))
    return float(np.average(gaps, weights=weights))


# ---- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_company():
    a, b = generate_company(seed=7, n_customers=1500), generate_company(seed=7, n_customers=1500)
    pd.testing.assert_frame_equal(a.customers, b.customers)
    pd.testing.assert_frame_equal(a.feedback, b.feedback)
    pd.testing.assert_frame_equal(a.labels, b.labels)
    assert a.truth == b.truth and a.config_toml == b.config_toml


def test_different_seeds_give_different_companies():
    a, b = generate_company(seed=1, n_customers=1500), generate_company(seed=2, n_customers=1500)
    assert (a.customers["Segment"] != b.customers["Segment"]).mean() > 0.5
    shared = set(a.feedback["Comment Text"].dropna()) & set(b.feedback["Comment Text"].dropna())
    assert len(shared) < 0.05 * len(a.feedback)


def test_null_and_planted_companies_share_their_customers_attributes(big, big_null):
    attributes = ["Customer ID", "Segment", "region", "Plan", "channel", "tenure_months", "age", "contact_email"]
    pd.testing.assert_frame_equal(big.customers[attributes], big_null.customers[attributes])


# ---- shape of the tables -------------------------------------------------------------------


def test_customer_table_columns_and_types(company):
    customers = company.customers
    assert list(customers.columns) == [
        "Customer ID",
        "Segment",
        "region",
        "Plan",
        "channel",
        "tenure_months",
        "orders_12m",
        "avg_order_value",
        "age",
        "newsletter",
        "churned_90d",
        "revenue_12m",
        "contact_email",
    ]
    assert len(customers) == 4000 and customers["Customer ID"].is_unique
    assert customers["Customer ID"].str.fullmatch(r"C\d{6}").all()
    for column in ("tenure_months", "orders_12m", "age", "churned_90d"):
        assert pd.api.types.is_integer_dtype(customers[column]), column
    for column in ("avg_order_value", "revenue_12m"):
        assert pd.api.types.is_float_dtype(customers[column]), column
    assert pd.api.types.is_bool_dtype(customers["newsletter"])
    assert set(customers["churned_90d"]) == {0, 1}
    assert set(customers["region"]) == {"north", "south", "east", "west"}
    assert set(customers["Plan"]) == {"basic", "plus", "premium"}
    assert set(customers["channel"]) == {"app", "web", "store"}
    assert customers["age"].between(18, 85).all() and (customers["tenure_months"] >= 1).all()
    assert customers["contact_email"].str.fullmatch(r"[a-z]+\.[a-z]+\d*@example\.com").all()
    assert customers["contact_email"].is_unique
    sizes = customers["Segment"].value_counts()
    assert set(sizes.index) == set(SEGMENTS) and sizes.nunique() >= 5  # six segments, unequal sizes
    assert company.truth["segments"] == {s: int(sizes[s]) for s in SEGMENTS}
    assert 0.17 <= (customers["region"] == "north").mean() <= 0.23


def test_attributes_and_outcomes_look_like_a_crm(company):
    customers = company.customers
    by_segment = customers.groupby("Segment")
    churn = by_segment["churned_90d"].mean()
    revenue = by_segment["revenue_12m"].mean()
    assert churn["Champions"] < churn["Loyal"] < churn["At Risk"] < churn["Hibernating"]
    assert revenue["Champions"] > revenue["Loyal"] > revenue["Potential Loyalists"] > revenue["Hibernating"]
    premium = by_segment["Plan"].apply(lambda s: (s == "premium").mean())
    assert premium["Champions"] > 2 * premium["Hibernating"]
    assert by_segment["orders_12m"].mean()["Champions"] > 3 * by_segment["orders_12m"].mean()["Hibernating"]


def test_feedback_table_columns_and_types(company):
    feedback, truth = company.feedback, company.truth
    assert list(feedback.columns) == ["resp_id", "Customer ID", "Comment Text", "rating", "submitted", "channel_src"]
    assert len(feedback) == truth["n_feedback"] and 1300 <= len(feedback) <= 1750
    assert str(feedback["rating"].dtype) == "Int64"
    rated = feedback["rating"].dropna()
    assert rated.between(0, 10).all() and 0.62 <= len(rated) / len(feedback) <= 0.80
    assert pd.api.types.is_datetime64_any_dtype(feedback["submitted"])
    assert feedback["submitted"].min() >= pd.Timestamp("2024-05-01")
    assert feedback["submitted"].max() < pd.Timestamp("2024-06-01")
    assert feedback["submitted"].is_monotonic_increasing
    assert set(feedback["channel_src"]) == {"survey", "review", "ticket"}
    assert list(company.labels["resp_id"]) == list(feedback["resp_id"])


def test_only_some_customers_respond_and_unhappy_segments_less(company):
    rows = respondents(company)
    customers = company.customers
    rate = rows.groupby("Segment")["Customer ID"].nunique() / customers["Segment"].value_counts()
    assert 0.28 <= rows["Customer ID"].nunique() / len(customers) <= 0.40
    assert rate["At Risk"] < rate["Champions"] and rate["Hibernating"] < rate["Loyal"]
    twice = rows["Customer ID"].value_counts()
    assert 0.03 <= (twice == 2).mean() <= 0.15 and twice.max() <= 2


# ---- text ----------------------------------------------------------------------------------


def test_every_theme_has_many_phrasings_in_every_tone():
    assert set(_PHRASES) == set(THEMES)
    for theme, tones in _PHRASES.items():
        assert len(tones["negative"]) >= 12 and len(tones["positive"]) >= 12, theme
        assert len(tones["neutral"]) >= 4, theme
        everything = [p for phrases in tones.values() for p in phrases]
        assert len(set(everything)) == len(everything), f"repeated phrasing in {theme}"


def test_comments_are_varied_natural_text(company):
    texts = company.feedback["Comment Text"].dropna()
    texts = texts[texts.str.strip() != ""]
    assert company.feedback["Comment Text"].nunique() / len(company.feedback) >= 0.9
    sentences = {s.strip().lower() for t in texts for s in re.split(r"(?<=[.!?])\s+|\n+", t) if s.strip()}
    assert len(sentences) >= 1000
    words = texts.str.split().str.len()
    assert words.median() >= 12 and words.max() <= 90
    assert (texts == texts.str.lower()).mean() > 0.02  # some people type in lower case
    assert texts.str.contains("Sent from my").sum() >= 5
    assert set(company.labels["theme"]) == set(THEMES)
    assert set(company.labels["tone"]) == {"negative", "neutral", "positive"}


def test_rating_follows_tone_but_not_always(company):
    rows = respondents(company).dropna(subset=["rating"])
    mean = rows.groupby("tone")["rating"].mean()
    assert mean["negative"] + 2 < mean["neutral"] < mean["positive"]
    complaint_promoters = ((rows["tone"] == "negative") & (rows["rating"] >= 9)).sum()
    praise_detractors = ((rows["tone"] == "positive") & (rows["rating"] <= 5)).sum()
    assert complaint_promoters >= 5 and praise_detractors >= 5  # a 9 with a complaint exists
    assert complaint_promoters < 0.2 * (rows["tone"] == "negative").sum()


def test_segments_are_distinct_at_baseline(big):
    rows = respondents(big)
    negative = rows.assign(neg=rows["tone"] == "negative").groupby("Segment")["neg"].mean()
    assert negative["Champions"] + 0.3 < negative["At Risk"]
    mix = pd.crosstab(rows["Segment"], rows["theme"], normalize="index")
    assert 0.5 * (mix.loc["Champions"] - mix.loc["At Risk"]).abs().sum() > 0.25


# ---- planted structure ---------------------------------------------------------------------


def test_truth_names_the_planted_structure(company):
    truth = company.truth
    assert truth["seed"] == 0 and truth["null"] is False
    assert truth["merge"] == [{"segments": ["Potential Loyalists", "Promising"], "why": truth["merge"][0]["why"]}]
    (split,) = truth["split"]
    assert (split["segment"], split["attribute"], split["theme"]) == ("Loyal", "channel", "app")
    assert split["rule"] == 'Segment == "Loyal" and channel == "app"'
    (new,) = truth["new"]
    assert (new["rule"], new["attribute"], new["theme"]) == ('region == "north"', "region", "delivery")
    # the rules are valid refine rules and select the planted groups
    customers = company.customers
    assert apply_rule(customers, split["rule"]).sum() == split["n_customers"]
    assert apply_rule(customers, new["rule"]).sum() == new["n_customers"]
    assert 0.35 <= split["n_customers"] / truth["segments"]["Loyal"] <= 0.45


def test_new_segment_north_complains_about_delivery_in_every_segment(big, company):
    rows = respondents(big)
    north = rows["region"] == "north"
    assert rows.loc[north, "text_delivery"].mean() - rows.loc[~north, "text_delivery"].mean() > 0.25
    for segment, part in rows.groupby("Segment"):
        n = part["region"] == "north"
        gap = (part.loc[n, "theme"] == "delivery").mean() - (part.loc[~n, "theme"] == "delivery").mean()
        assert 0.25 < gap < 0.55, segment
    rows["negative"] = rows["tone"] == "negative"
    assert within_segment_gap(rows, north, "negative") > 0.15
    customers = big.customers
    assert 0.06 < within_segment_gap(customers, customers["region"] == "north", "churned_90d") < 0.12
    # visible at the default size too
    small = respondents(company)
    n = small["region"] == "north"
    assert small.loc[n, "text_delivery"].mean() > small.loc[~n, "text_delivery"].mean() + 0.2


def test_split_loyal_app_users_talk_about_the_app_and_churn(big):
    rows = respondents(big)
    loyal = rows[rows["Segment"] == "Loyal"]
    app = loyal["channel"] == "app"
    share_app, share_rest = (loyal.loc[app, "theme"] == "app").mean(), (loyal.loc[~app, "theme"] == "app").mean()
    assert share_app > 0.45 and share_rest < 0.12
    assert loyal.loc[app, "text_app"].mean() > loyal.loc[~app, "text_app"].mean() + 0.3
    assert (loyal.loc[app, "tone"] == "negative").mean() > (loyal.loc[~app, "tone"] == "negative").mean() + 0.2
    customers = big.customers
    in_loyal = customers[customers["Segment"] == "Loyal"]
    churn = in_loyal.groupby(in_loyal["channel"] == "app")["churned_90d"].mean()
    assert churn[True] - churn[False] > 0.08
    # only inside Loyal: app users elsewhere write like everyone else in their segment
    others = rows[rows["Segment"] != "Loyal"]
    others = others.assign(is_app=others["theme"] == "app")
    assert within_segment_gap(others, others["channel"] == "app", "is_app") < 0.03


def test_merge_pair_is_alike_in_everything_but_attributes(big):
    rows = respondents(big)
    customers = big.customers
    pair = ["Potential Loyalists", "Promising"]
    churn = customers.groupby("Segment")["churned_90d"].mean()
    assert abs(churn[pair[0]] - churn[pair[1]]) < 0.03
    revenue = customers.groupby("Segment")["revenue_12m"].median()
    assert abs(revenue[pair[0]] / revenue[pair[1]] - 1) < 0.1
    mix = pd.crosstab(rows["Segment"], rows["theme"], normalize="index")
    assert 0.5 * (mix.loc[pair[0]] - mix.loc[pair[1]]).abs().sum() < 0.09  # sampling noise alone is ~0.05
    assert 0.5 * (mix.loc[pair[0]] - mix.loc["Loyal"]).abs().sum() > 0.2
    negative = rows.assign(neg=rows["tone"] == "negative").groupby("Segment")["neg"].mean()
    assert abs(negative[pair[0]] - negative[pair[1]]) < 0.04
    tenure = customers.groupby("Segment")["tenure_months"].mean()
    assert tenure[pair[0]] > tenure[pair[1]] + 1  # attributes differ a little, as they would


def test_null_plants_nothing(big_null):
    truth = big_null.truth
    assert truth["null"] is True and truth["merge"] == truth["split"] == truth["new"] == []
    rows = respondents(big_null)
    customers = big_null.customers
    north_c = customers["region"] == "north"
    assert abs(within_segment_gap(customers, north_c, "churned_90d")) < 0.025
    north = rows["region"] == "north"
    assert abs(within_segment_gap(rows.assign(d=rows["theme"] == "delivery"), north, "d")) < 0.04
    assert abs(within_segment_gap(rows.assign(neg=rows["tone"] == "negative"), north, "neg")) < 0.04
    loyal = customers[customers["Segment"] == "Loyal"]
    churn = loyal.groupby(loyal["channel"] == "app")["churned_90d"].mean()
    assert abs(churn[True] - churn[False]) < 0.03
    lr = rows[rows["Segment"] == "Loyal"]
    assert (
        abs(
            (lr.loc[lr["channel"] == "app", "theme"] == "app").mean()
            - (lr.loc[lr["channel"] != "app", "theme"] == "app").mean()
        )
        < 0.05
    )
    # no merge: the would-be pair is clearly different
    by = customers.groupby("Segment")["churned_90d"].mean()
    assert by["Promising"] - by["Potential Loyalists"] > 0.05
    mix = pd.crosstab(rows["Segment"], rows["theme"], normalize="index")
    assert 0.5 * (mix.loc["Potential Loyalists"] - mix.loc["Promising"]).abs().sum() > 0.15
    # ...while attributes still correlate with segment, the trap for a tool that forgets to condition
    store = customers.groupby("Segment")["channel"].apply(lambda s: (s == "store").mean())
    assert store["Hibernating"] > 2 * store["Champions"]
    assert customers.groupby(customers["channel"] == "store")["churned_90d"].mean().diff().iloc[-1] > 0.05


# ---- personal data and quality problems ------------------------------------------------------


def test_some_raw_comments_carry_personal_data(company):
    pii = company.truth["pii"]
    feedback = company.feedback.set_index("resp_id")
    assert 0.02 <= pii["rows"] / len(company.feedback) <= 0.04
    assert min(pii["email"], pii["phone"], pii["card"]) >= 3
    assert pii["rows"] == pii["email"] + pii["phone"] + pii["card"] == len(pii["items"])
    patterns = {"email": EMAIL, "phone": PHONE, "card": CARD}
    for item in pii["items"]:
        text = feedback.loc[item["resp_id"], "Comment Text"]
        text = text if isinstance(text, str) else text.iloc[0]
        assert item["value"] in text
        assert patterns[item["kind"]].search(text), item
        if item["kind"] == "card":
            assert _luhn_ok(re.sub(r"\D", "", item["value"]))
    carrying = {item["resp_id"] for item in pii["items"]}
    others = company.feedback.loc[~company.feedback["resp_id"].isin(carrying), "Comment Text"].dropna()
    assert not others.str.contains(EMAIL).any() and not others.str.contains(CARD).any()


def _luhn_ok(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(d if k % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for k, d in enumerate(digits))
    return total % 10 == 0


def test_quality_problems_are_planted_and_counted(company):
    feedback, quality = company.feedback, company.truth["quality"]
    n = len(feedback)
    text = feedback["Comment Text"]
    blank = text.isna() | (text.fillna("").str.strip() == "")
    assert blank.sum() == quality["blank_text"]
    assert feedback.duplicated().sum() == quality["duplicate_rows"]
    unknown = ~feedback["Customer ID"].isin(company.customers["Customer ID"])
    assert unknown.sum() == quality["unknown_customer"]
    for key in ("blank_text", "duplicate_rows", "unknown_customer"):
        assert 0.005 * n <= quality[key] <= 0.02 * n, key
        assert len(quality["resp_ids"][key]) == quality[key]
    assert set(feedback.loc[blank, "resp_id"]) == set(quality["resp_ids"]["blank_text"])
    assert quality["clean_rows"] == n - quality["blank_text"] - quality["duplicate_rows"] - quality["unknown_customer"]
    assert text.isna().any() and (text == "").any()  # blank comes as missing and as empty


# ---- files ---------------------------------------------------------------------------------


def test_write_demo_data_writes_four_files_that_load(tmp_path, company):
    paths = write_demo_data(tmp_path / "demo", company)
    assert set(paths) == {"customers", "feedback", "truth", "config"}
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        "customers.csv",
        "feedback.csv",
        "refine.toml",
        "truth.json",
    ]
    config = load_config(paths["config"])
    assert config.feedback.text == "Comment Text" and config.feedback.score_kind == "nps"
    assert config.feedback.score_scale == [0.0, 10.0] and config.run.seed == 0
    assert config.customers.outcomes == ["churned_90d", "revenue_12m"]
    assert config.customers.exclude == ["contact_email"]
    customers = pd.read_csv(paths["customers"])
    feedback = pd.read_csv(paths["feedback"], keep_default_na=False)
    assert len(customers) == 4000 and len(feedback) == company.truth["n_feedback"]
    mapped = [
        config.feedback.id,
        config.feedback.customer_id,
        config.feedback.text,
        config.feedback.score,
        config.feedback.timestamp,
        config.feedback.source,
    ]
    assert set(mapped) <= set(feedback.columns)
    assert {
        config.customers.customer_id,
        config.customers.segment,
        *config.customers.outcomes,
        *config.customers.exclude,
    } <= set(customers.columns)
    # multi-line comments (email signatures) survive the round trip
    assert (feedback["Comment Text"] == company.feedback["Comment Text"].fillna("")).all()
    assert json.loads(paths["truth"].read_text()) == company.truth


@pytest.mark.parametrize("kwargs", [{"seed": -1}, {"n_customers": 10}, {"response_rate": 1.5}])
def test_bad_arguments_are_one_line_errors(kwargs):
    with pytest.raises(RefineError):
        generate_company(**kwargs)
