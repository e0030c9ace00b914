"""Drivers, score-change attribution and emerging / fading tests, on generated data with known answers."""

import math

import numpy as np
import pandas as pd
import pytest

from refine import schemas as S
from refine.insights.drivers import (
    Attribution,
    DriverResult,
    attribute_change,
    holm,
    nearest_theme,
    score_points,
    theme_drivers,
    theme_shifts,
    what_is_new,
)


def feedback_frame(rng, n, themes, score):
    return pd.DataFrame({S.CUSTOMER_ID: [f"c{i}" for i in range(n)], S.TOPIC_ID: themes, S.SCORE: score})


@pytest.mark.parametrize("seed", range(20))
def test_attribution_sums_exactly_to_the_change(seed):
    rng = np.random.default_rng(seed)
    kind = ["nps", "csat", "stars", None][seed % 4]
    high = 10 if kind == "nps" else 5
    before_themes = rng.integers(-1, rng.integers(2, 12), rng.integers(5, 400))
    now_themes = rng.integers(-1, rng.integers(2, 12), rng.integers(5, 400))  # themes appear and vanish
    before = feedback_frame(rng, len(before_themes), before_themes, rng.integers(0, high + 1, len(before_themes)))
    now = feedback_frame(rng, len(now_themes), now_themes, rng.integers(0, high + 1, len(now_themes)))
    now.loc[rng.random(len(now)) < 0.2, S.SCORE] = np.nan  # unscored comments are left out on both sides
    a = attribute_change(before, now, kind, {})
    direct = np.nanmean(score_points(now[S.SCORE], kind)) - np.nanmean(score_points(before[S.SCORE], kind))
    assert a.change == pytest.approx(direct, abs=1e-9)
    assert sum(c.total for c in a.contributions) == pytest.approx(a.change, abs=1e-9)
    assert sum(c.share_now for c in a.contributions) == pytest.approx(1.0)
    again = Attribution.from_json(a.to_json())
    assert sum(c.total for c in again.contributions) == pytest.approx(a.change, abs=1e-9)


def test_attribution_puts_the_drop_on_the_theme_that_caused_it():
    rng = np.random.default_rng(1)
    n = 4000
    themes = rng.integers(0, 4, n)
    before = pd.DataFrame({S.TOPIC_ID: themes, S.SCORE: rng.integers(7, 11, n)})
    now_themes = rng.integers(0, 4, n)
    score = rng.integers(7, 11, n)
    score[now_themes == 2] = rng.integers(0, 7, (now_themes == 2).sum())  # theme 2 turned into detractors
    now = pd.DataFrame({S.TOPIC_ID: now_themes, S.SCORE: score})
    a = attribute_change(before, now, "nps", {2: "delivery"})
    top = a.contributions[0]
    assert top.label == "delivery" and top.within < -20 and abs(top.volume) < 2


def test_drivers_recover_a_planted_effect_adjusting_for_segment():
    rng = np.random.default_rng(0)
    n = 3000
    segment = rng.choice(["A", "B"], n)
    # theme 1 is far more common in segment B, which scores lower for reasons of its own
    theme = np.where(rng.random(n) < np.where(segment == "B", 0.5, 0.1), 1, rng.integers(1, 5, n) + 1)
    theme[theme == 5] = -1  # a quarter of the others mention no theme
    churn_p = 0.05 + 0.10 * (theme == 1) + 0.10 * (segment == "B")
    latent = 8 - 2.0 * (segment == "B") - 1.5 * (theme == 1) + rng.normal(0, 1.5, n)
    feedback = pd.DataFrame(
        {
            S.CUSTOMER_ID: [f"c{i}" for i in range(n)],
            S.SEGMENT: segment,
            S.TOPIC_ID: theme,
            S.SCORE: np.clip(np.round(latent), 0, 10),
        }
    )
    customers = pd.DataFrame({"id": feedback[S.CUSTOMER_ID], "churned": (rng.random(n) < churn_p).astype(float)})
    result = theme_drivers(
        feedback,
        customers,
        customer_id="id",
        outcomes=["churned"],
        score_kind="stars",
        topic_labels={1: "app", 2: "x", 3: "y", 4: "z"},
    )
    score = {d.theme: d for d in result.for_measure("score")}
    # the raw gap mixes in segment B's lower score; the adjusted one is near the planted -1.5
    raw = feedback[S.SCORE][theme == 1].mean() - feedback[S.SCORE][theme != 1].mean()
    assert raw < -2.0
    assert score[1].ci_low < -1.5 < score[1].ci_high and score[1].p_adjusted < 0.001
    churn = {d.theme: d for d in result.for_measure("churned")}
    assert churn[1].unit == "percentage points" and 4 < churn[1].effect < 16
    assert "logit" in result.method["churned"]["model"]
    assert all(math.isfinite(d.p_adjusted) for d in result.drivers)
    assert DriverResult.from_json(result.to_json()).to_json() == result.to_json()


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, 0.005, 0.5]
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist())


def test_shifts_report_only_significant_and_large_changes():
    rng = np.random.default_rng(3)
    before = rng.choice([0, 1, 2, 3, -1], 3000, p=[0.3, 0.3, 0.2, 0.2, 0.0])
    now = rng.choice([0, 1, 2, 3, 4, -1], 1000, p=[0.27, 0.27, 0.18, 0.18, 0.10, 0.0])
    shifts, tested = theme_shifts(before, now, {4: "packaging"}, direction="emerging")
    assert tested == 5
    assert [s.theme for s in shifts] == [4] and shifts[0].direction == "emerging" and shifts[0].ci_low > 0.07
    # the others lost share to the newcomer, 2-3 points each: below the stated minimum change
    assert theme_shifts(before, now, {}, direction="fading")[0] == []
    # the same shift, too small to matter, is not reported however significant
    assert theme_shifts(before, now, {}, min_change=0.2)[0] == []


def test_what_is_new_is_blind_to_a_theme_refitted_in_two():
    rng = np.random.default_rng(5)
    centres = np.eye(8)[:4]
    before = centres[rng.integers(0, 4, 2000)] + rng.normal(0, 0.05, (2000, 8))
    now = centres[rng.integers(0, 4, 800)] + rng.normal(0, 0.05, (800, 8))
    # this cycle's fit split theme 0 in two halves (ids 10, 11): each has half the share it had
    half = centres[0] + np.r_[0, 0, 0, 0, 0.3, 0, 0, 0]
    other = centres[0] + np.r_[0, 0, 0, 0, 0, 0.3, 0, 0]
    now_centroids = {10: half, 11: other, 1: centres[1], 2: centres[2], 3: centres[3]}
    previous = {i: centres[i] for i in range(4)}
    news = what_is_new(before, now, now_centroids, previous, {}, cycles_before=1, min_similarity=0.35)
    assert news.emerging == [] and news.fading == []
    # a real newcomer is found
    new_dir = np.eye(8)[6]
    now2 = np.vstack([now, new_dir + rng.normal(0, 0.05, (80, 8))])
    news = what_is_new(
        before, now2, {**now_centroids, 6: new_dir}, previous, {6: "new"}, cycles_before=1, min_similarity=0.35
    )
    assert [s.theme for s in news.emerging] == [6]
    assert (nearest_theme(np.zeros((0, 8)), previous, 0.3)).shape == (0,)


def test_drivers_when_every_respondent_mentions_a_theme():
    rng = np.random.default_rng(2)
    n = 600
    theme = rng.integers(0, 3, n)
    feedback = pd.DataFrame(
        {
            S.CUSTOMER_ID: [f"c{i}" for i in range(n)],
            S.SEGMENT: rng.choice(["A", "B"], n),
            S.TOPIC_ID: theme,
            S.SCORE: np.clip(np.round(7 - 3.0 * (theme == 2) + rng.normal(0, 1, n)), 0, 10),
        }
    )
    result = theme_drivers(
        feedback,
        feedback,
        customer_id=S.CUSTOMER_ID,
        outcomes=[],
        score_kind="nps",
        topic_labels={0: "a", 1: "b", 2: "c"},
    )
    rows = result.for_measure("score")
    assert len(rows) == 2 and all(abs(d.effect) < 300 for d in rows)  # NPS points, not a singular blow-up
    assert "most-mentioned theme" in result.method["score"]["compared_with"]


def test_a_theme_under_10_respondents_in_a_measure_gets_no_estimate_for_it():
    rng = np.random.default_rng(3)
    n = 800
    theme = rng.integers(0, 2, n) + 1
    theme[:15] = 3  # 15 respondents mention theme 3, only 6 of them gave a score
    theme[200:400] = -1
    score = np.clip(np.round(7 + rng.normal(0, 1.5, n)), 0, 10)
    score[6:15] = np.nan
    feedback = pd.DataFrame(
        {S.CUSTOMER_ID: [f"c{i}" for i in range(n)], S.SEGMENT: rng.choice(["A", "B"], n), S.TOPIC_ID: theme,
         S.SCORE: score}
    )  # fmt: skip
    customers = pd.DataFrame({"id": feedback[S.CUSTOMER_ID], "churned": (rng.random(n) < 0.2).astype(float)})
    result = theme_drivers(
        feedback, customers, customer_id="id", outcomes=["churned"], score_kind="nps",
        topic_labels={1: "a", 2: "b", 3: "rare"},
    )  # fmt: skip
    assert 3 not in {d.theme for d in result.for_measure("score")}  # 6 answered: too few for the score
    assert "1 theme(s) mentioned by fewer than 10 of them" == result.method["score"]["themes_left_out"]
    churn = {d.theme: d for d in result.for_measure("churned")}
    assert churn[3].respondents == 15 and "themes_left_out" not in result.method["churned"]
    assert all(d.respondents >= 10 for d in result.drivers)


@pytest.mark.parametrize("seed", range(3))
def test_logit_margins_match_statsmodels(seed):
    """The analytic average marginal effects and delta-method errors equal statsmodels' numerical ones."""
    from statsmodels.discrete.discrete_model import Logit

    from refine.insights.drivers import _logit_margins

    rng = np.random.default_rng(seed)
    n, k = 3000, 6
    themes = (rng.random((n, k)) < rng.uniform(0.05, 0.4, k)).astype(float)
    segment = rng.integers(0, 3, n)
    design = pd.DataFrame(themes, columns=[f"t{i}" for i in range(k)])
    design = pd.concat(
        [
            pd.Series(1.0, index=design.index, name="const"),
            design,
            pd.get_dummies(segment, prefix="seg", drop_first=True, dtype=float),
        ],
        axis=1,
    )
    eta = -1.0 + themes @ rng.normal(0, 0.8, k) + 0.3 * (segment == 1)
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    columns = [f"t{i}" for i in range(k)]
    ours = _logit_margins(y, design, columns)
    frame = Logit(y, design).fit(disp=0).get_margeff(at="overall", method="dydx", dummy=True).summary_frame()
    names = list(design.columns[1:])
    for c in columns:
        row = frame.iloc[names.index(c)]
        assert ours[c][0] == pytest.approx(float(row["dy/dx"]), abs=1e-8)
        assert ours[c][1] == pytest.approx(float(row["Std. Err."]), rel=1e-6)
        assert ours[c][2] == pytest.approx(float(row["Pr(>|z|)"]), rel=1e-5, abs=1e-12)
