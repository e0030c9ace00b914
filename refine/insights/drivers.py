"""What moves the score: theme drivers, score-change attribution, and emerging / fading themes.

Three questions a CX lead is asked about a monthly cycle, answered from the run's own frames:

* **drivers** - what each theme does to the score (NPS, CSAT top-2-box or the mean rating) and to
  each outcome (churn, revenue), *adjusting for the other themes and for segment*: one regression
  per measure on 0/1 theme indicators per respondent plus segment fixed effects. Scores and numeric
  outcomes use OLS with heteroskedasticity-robust (HC3) standard errors; a 0/1 outcome uses a logit,
  reported as the average marginal effect in percentage points (a linear probability model with HC3
  when the logit cannot be fitted, e.g. perfect separation; the method says which). p-values are
  Benjamini-Hochberg adjusted across every theme x measure tested.
* **attribution** - the change of the score against last cycle split into per-theme contributions
  that sum exactly to the total. The score over scored comments is ``S = sum_g w_g s_g`` (``w_g`` the
  theme's share of scored comments, ``s_g`` its score; comments on no theme are the group "no theme"),
  so ``S1 - S0 = sum_g (w1 s1 - w0 s0)``, split symmetrically (midpoints, no order dependence) into
  a *volume* effect ``(w1 - w0) * (mid(s_g) - mid(S))`` - more comments on a theme scoring below
  the overall score pulls it down - and a *within-theme* effect ``mid(w_g) * (s1 - s0)``. The
  ``mid(S)`` term sums to zero over themes because both cycles' shares sum to one. A theme present in
  one cycle only takes its one score in both (no within effect, all volume).
* **emerging / fading** - per theme, its share of comments now vs the pooled last cycles
  (two-proportion z test), Holm-corrected across the themes tested (family-wise ``ALPHA`` = 0.01 per
  cycle), reported only when significant *and* the share moved at least ``MIN_SHARE_CHANGE`` (3
  points). Each share is measured with one theme definition on both periods (see ``what_is_new``).

NPS is scored per answer as +100 (promoter), 0 (passive), -100 (detractor), so its mean is the NPS;
CSAT as 100 x top-2-box; other scales as the rating itself.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit
from scipy.stats import norm

# the model modules alone: statsmodels.api also imports its plotting and time-series packages (seconds)
from statsmodels.discrete.discrete_model import Logit
from statsmodels.regression.linear_model import OLS

from refine import schemas as S
from refine.segments.profiles import with_indicators
from refine.stats import Z95, benjamini_hochberg

NO_THEME = -1
MIN_SHARE_CHANGE = 0.03  # a theme's share must move at least 3 points of all comments to be called new or fading
# family-wise error rate per cycle (Holm across the themes): a monthly job runs ~12 cycles a year, so at
# 0.01 a year of stable months raises a false "new theme" alert with probability about 0.1
ALPHA = 0.01
MIN_THEME_RESPONDENTS = 10  # a theme mentioned by fewer respondents gets no driver estimate (too noisy);
# counted per measure among the respondents in its model (those who answered the score, or have the outcome)


MARGIN_BLOCK = 16  # theme columns whose marginal effects are computed at a time (`_logit_margins`)


def score_points(scores: pd.Series | np.ndarray, kind: str | None) -> np.ndarray:
    """Each answer on the scale the headline score is read on (its mean is the headline score)."""
    values = np.asarray(scores, dtype=float)
    if kind == "nps":
        out = np.where(values >= 9, 100.0, np.where(values <= 6, -100.0, 0.0))
    elif kind == "csat":
        out = np.where(values >= 4, 100.0, 0.0)
    else:
        out = values.copy()
    out[~np.isfinite(values)] = np.nan
    return out


def score_name(kind: str | None) -> str:
    return {"nps": "NPS", "csat": "CSAT (top-2-box, %)", "stars": "mean stars", "ces": "mean effort"}.get(
        kind or "", "mean score"
    )


# ---- drivers ------------------------------------------------------------------------------------


@dataclass
class Driver:
    """One theme's adjusted effect on one measure (score or outcome)."""

    measure: str  # "score" or an outcome column
    theme: int
    label: str
    respondents: int  # respondents who mentioned the theme (in the model)
    share: float  # their share of the respondents in the model
    effect: float  # score points / outcome units; percentage points for a 0/1 outcome
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float = float("nan")
    unit: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Driver:
        values: dict[str, Any] = {k: (float("nan") if v is None and k != "unit" else v) for k, v in doc.items()}
        return cls(**values)


class MeasureMethod(TypedDict, total=False):
    """How one measure's drivers were estimated, or why they were not (``skipped``)."""

    model: str
    respondents: int
    adjusted_for: str
    binary: bool
    compared_with: str
    themes_left_out: str  # themes under MIN_THEME_RESPONDENTS among this measure's respondents (controls only)
    skipped: str


@dataclass
class DriverResult:
    drivers: list[Driver] = field(default_factory=list)
    # per measure: its MeasureMethod; "correction" (and "skipped" when no theme was modelled): a sentence
    method: dict[str, MeasureMethod | str] = field(default_factory=dict)

    def for_measure(self, measure: str) -> list[Driver]:
        return sorted([d for d in self.drivers if d.measure == measure], key=lambda d: d.effect)

    def to_json(self) -> dict[str, Any]:
        return {"drivers": [d.to_json() for d in self.drivers], "method": self.method}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DriverResult:
        return cls([Driver.from_json(d) for d in doc.get("drivers", [])], dict(doc.get("method", {})))


def _respondent_frame(feedback: pd.DataFrame, score_kind: str | None, themes: list[int]) -> pd.DataFrame:
    points = score_points(feedback[S.SCORE], score_kind) if S.SCORE in feedback else np.full(len(feedback), np.nan)
    frame = pd.DataFrame(
        {S.CUSTOMER_ID: feedback[S.CUSTOMER_ID].values, "score": points, "segment": feedback[S.SEGMENT].values}
    )
    frame = with_indicators(frame, feedback[S.TOPIC_ID].to_numpy(), themes, "t")
    grouped = frame.groupby(S.CUSTOMER_ID, sort=True)
    table = grouped[["score"]].mean()
    table["segment"] = grouped["segment"].first()
    if themes:
        table = table.join(grouped[[f"t{t}" for t in themes]].max())
    return table


def _design(table: pd.DataFrame, themes: list[int]) -> pd.DataFrame:
    segments = pd.get_dummies(table["segment"].astype(str), prefix="seg", drop_first=True, dtype=float)
    const = pd.Series(1.0, index=table.index, name="const")
    return pd.concat([const, table[[f"t{t}" for t in themes]], segments], axis=1)


def _ols(y: np.ndarray, design: pd.DataFrame, columns: list[str]) -> dict[str, tuple[float, float, float]]:
    fit = OLS(y, design).fit(cov_type="HC3")
    out: dict[str, tuple[float, float, float]] = {}
    for c in columns:
        b, se, p = float(fit.params[c]), float(fit.bse[c]), float(fit.pvalues[c])
        out[c] = (b, se, p)
    return out


def _logit_margins(y: np.ndarray, design: pd.DataFrame, columns: list[str]) -> dict[str, tuple[float, float, float]]:
    """Average marginal effect of each 0/1 column in `columns` on P(y = 1) under a logit, with delta-method errors.

    The effect of a 0/1 column is the mean over respondents of P(y = 1 | column = 1) - P(y = 1 | column = 0),
    everything else as observed; its gradient in the coefficients is the mean of f(eta1) x1 - f(eta0) x0
    (f the logistic density), the same as statsmodels' `get_margeff(at="overall", method="dydx",
    dummy=True)` (tested to 1e-8), without its numerical Jacobian over every column, which took 28 s
    for 160 themes and 22,000 respondents.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a separation / convergence warning means: use the linear model
        fit = Logit(y, design).fit(disp=0, maxiter=200)
    x = design.to_numpy(dtype=float)
    beta = np.asarray(fit.params, dtype=float)
    cov = np.asarray(fit.cov_params(), dtype=float)
    where = np.array([list(design.columns).index(c) for c in columns], dtype=int)
    eta = x @ beta
    effects = np.zeros(len(where))
    jacobian = np.zeros((len(where), x.shape[1]))  # m x k: d effect / d beta
    # a few columns at a time: six n x m float64 arrays held 1 GB at 87k respondents and 160 themes (issue 32)
    for start in range(0, len(where), MARGIN_BLOCK):
        part = slice(start, start + MARGIN_BLOCK)
        cols = x[:, where[part]]
        eta1 = eta[:, None] + beta[where[part]] * (1.0 - cols)  # each column set to 1 (n x columns)
        eta0 = eta[:, None] - beta[where[part]] * cols  # ... and to 0
        p1, p0 = expit(eta1), expit(eta0)
        effects[part] = (p1 - p0).mean(axis=0)
        f1, f0 = p1 * (1.0 - p1), p0 * (1.0 - p0)
        jacobian[part] = (f1.T @ x - f0.T @ x) / len(x)
        rows = np.arange(len(where[part]))
        jacobian[part][rows, where[part]] = f1.mean(axis=0)  # in x1 the column itself is 1, in x0 it is 0
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", jacobian, cov, jacobian), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2.0 * norm.sf(np.abs(effects / se))
    return {c: (float(effects[i]), float(se[i]), float(p[i])) for i, c in enumerate(columns)}


def _measures(
    table: pd.DataFrame, n_themes: int, customers: pd.DataFrame, customer_id: str, outcomes: list[str]
) -> list[tuple[str, np.ndarray, bool]]:
    """(measure, value per respondent, whether it is 0/1): the score when answered enough, then each outcome."""
    measures: list[tuple[str, np.ndarray, bool]] = []
    if table["score"].notna().sum() > n_themes + 10:
        measures.append(("score", table["score"].to_numpy(), False))
    if outcomes:
        by_id = customers.set_index(customer_id)
        for outcome in outcomes:
            if outcome not in by_id.columns:
                continue
            values = pd.to_numeric(by_id[outcome].reindex(table.index), errors="coerce").to_numpy(dtype=float)
            present = values[np.isfinite(values)]
            binary = len(present) > 0 and bool(np.isin(present, (0.0, 1.0)).all())
            measures.append((outcome, values, binary))
    return measures


def _measure_design(table: pd.DataFrame, themes: list[int]) -> tuple[pd.DataFrame, list[str], str | None] | None:
    """(design, theme columns estimated, reference theme column or None) for one measure; None when collinear."""
    columns = [f"t{t}" for t in themes]
    design = _design(table, themes)
    design = design.loc[:, (design != 0).any(axis=0)]  # a segment with no respondent here drops out
    used = [c for c in columns if c in design.columns and design[c].nunique() > 1]
    design = design.drop(columns=[c for c in columns if c in design.columns and c not in used])
    reference = None
    if np.linalg.matrix_rank(design.to_numpy()) < design.shape[1] and used:
        # every respondent mentions some theme (the indicators add up to the constant): the effects
        # are then read against the most-mentioned theme, which leaves the model
        reference = max(used, key=lambda c: (design[c].sum(), c))
        used.remove(reference)
        design = design.drop(columns=[reference])
        if np.linalg.matrix_rank(design.to_numpy()) < design.shape[1]:
            return None
    return design, used, reference


def _estimate(
    y: np.ndarray, design: pd.DataFrame, used: list[str], binary: bool
) -> tuple[dict[str, tuple[float, float, float]], str]:
    """(effect, standard error, p) per column and the model's description: a logit for 0/1, else OLS."""
    model = "OLS, HC3 robust standard errors"
    if binary:
        try:
            return _logit_margins(y, design, used), "logit, average marginal effects (delta-method standard errors)"
        except Exception:  # separation, non-convergence, singular design: fall back to the LPM
            model = "linear probability model, HC3 robust standard errors (the logit did not converge)"
    return _ols(y, design, used), model


def theme_drivers(
    feedback: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    customer_id: str,
    outcomes: list[str],
    score_kind: str | None,
    topic_labels: dict[int, str],
) -> DriverResult:
    """Adjusted effect of every theme on the score and on each outcome, with 95% intervals.

    Args:
        feedback: joined feedback rows (customer_id, segment, score, topic_id).
        customers: the customer table (outcome columns).
        customer_id: the customer table's id column.
        outcomes: outcome columns to model.
        score_kind: nps | csat | stars | ces | other | None.
        topic_labels: theme id -> label.

    Returns:
        DriverResult: one Driver per theme and measure, p-values BH-adjusted across all of them.
    """
    counts = feedback.loc[feedback[S.TOPIC_ID] >= 0].groupby(S.TOPIC_ID)[S.CUSTOMER_ID].nunique()
    themes = sorted(int(t) for t, n in counts.items() if n >= MIN_THEME_RESPONDENTS and int(t) in topic_labels)
    result = DriverResult()
    if not themes or feedback.empty:
        result.method["skipped"] = "no theme mentioned by enough respondents"
        return result
    table = _respondent_frame(feedback, score_kind, themes)
    for measure, y, binary in _measures(table, len(themes), customers, customer_id, outcomes):
        keep = np.isfinite(y)
        if keep.sum() <= len(themes) + 10 or np.nanstd(y[keep]) == 0:
            result.method[measure] = {"skipped": "too few answers or no variation"}
            continue
        fitted = _measure_design(table.loc[keep], themes)
        if fitted is None:
            result.method[measure] = {"skipped": "theme and segment indicators are collinear"}
            continue
        design, used, reference = fitted
        estimates, model = _estimate(y[keep], design, used, binary)
        scale, unit = (100.0, "percentage points") if binary else (1.0, score_name(score_kind) + " points")
        if measure != "score" and not binary:
            unit = f"{measure} units"
        n = int(keep.sum())
        thin = 0
        for c in used:
            b, se, p = estimates[c]
            theme = int(c[1:])
            mentioned = int(design[c].sum())
            if mentioned < MIN_THEME_RESPONDENTS:  # counted among the respondents who answered this measure
                thin += 1  # stays in the model as a control; its own estimate is too noisy to show
                continue
            result.drivers.append(
                Driver(
                    measure=measure,
                    theme=theme,
                    label=topic_labels.get(theme, f"theme {theme}"),
                    respondents=mentioned,
                    share=mentioned / n,
                    effect=scale * b,
                    ci_low=scale * (b - Z95 * se),
                    ci_high=scale * (b + Z95 * se),
                    p_value=p if math.isfinite(p) else 1.0,
                    unit=unit,
                )
            )
        method: MeasureMethod = {
            "model": model,
            "respondents": n,
            "adjusted_for": "the other themes and segment (fixed effects)",
            "binary": binary,
            "compared_with": (
                "respondents who did not mention the theme"
                if reference is None
                else f"respondents on the most-mentioned theme, {topic_labels.get(int(reference[1:]), reference)} "
                "(every respondent mentioned some theme)"
            ),
        }
        if thin:
            method["themes_left_out"] = f"{thin} theme(s) mentioned by fewer than {MIN_THEME_RESPONDENTS} of them"
        result.method[measure] = method
    for driver, q in zip(result.drivers, benjamini_hochberg([d.p_value for d in result.drivers])):
        driver.p_adjusted = q
    result.method["correction"] = "Benjamini-Hochberg across every theme x measure"
    return result


# ---- score-change attribution -------------------------------------------------------------------


@dataclass
class ThemeContribution:
    theme: int  # -1 = no theme
    label: str
    share_before: float
    share_now: float
    score_before: float | None  # None: the theme had no scored comment in that cycle
    score_now: float | None
    volume: float
    within: float

    @property
    def total(self) -> float:
        return self.volume + self.within

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["total"] = self.total
        return out


@dataclass
class Attribution:
    """The score change since last cycle, split per theme; contributions sum exactly to ``change``."""

    kind: str
    score_before: float
    score_now: float
    answers_before: int
    answers_now: int
    contributions: list[ThemeContribution]
    themes: str = "topic ids as stored by each cycle"  # how comments were given a theme on both sides

    @property
    def change(self) -> float:
        return self.score_now - self.score_before

    def comments(self, c: ThemeContribution) -> tuple[int, int]:
        """Scored comments on the contribution's theme (last cycle, this cycle): its shares times the answers."""
        return round(c.share_before * self.answers_before), round(c.share_now * self.answers_now)

    def thin(self, c: ThemeContribution, small_n: int) -> bool:
        """Whether the contribution rests on fewer than `small_n` scored comments in a cycle that has the theme."""
        counts = [n for n in self.comments(c) if n > 0]
        return bool(counts) and min(counts) < small_n

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "score_before": self.score_before,
            "score_now": self.score_now,
            "change": self.change,
            "answers_before": self.answers_before,
            "answers_now": self.answers_now,
            "contributions": [c.to_json() for c in self.contributions],
            "method": "scored comments; volume = (w1 - w0)(mid s_theme - mid S), within = mid w (s1 - s0)",
            "themes": self.themes,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Attribution:
        contributions = [
            ThemeContribution(**{k: v for k, v in c.items() if k != "total"}) for c in doc.get("contributions", [])
        ]
        return cls(
            doc["kind"],
            doc["score_before"],
            doc["score_now"],
            doc["answers_before"],
            doc["answers_now"],
            contributions,
            doc.get("themes", "topic ids as stored by each cycle"),
        )


def attribute_change(
    before: pd.DataFrame, now: pd.DataFrame, score_kind: str | None, labels: dict[int, str]
) -> Attribution | None:
    """Split the score change between two cycles into per-theme volume and within-theme effects.

    Args:
        before, now: feedback rows with ``score`` and ``topic_id`` (ids stable across cycles).
        score_kind: how the score is read (nps / csat / other).
        labels: theme id -> label (now's labels first, then last cycle's).

    Returns:
        Attribution, or None when either cycle has no scored comment.
    """
    sides = []
    for frame in (before, now):
        points = score_points(frame[S.SCORE], score_kind)
        keep = np.isfinite(points)
        sides.append(pd.DataFrame({"theme": frame[S.TOPIC_ID].to_numpy()[keep].astype(int), "v": points[keep]}))
    b, n = sides
    if b.empty or n.empty:
        return None
    s0, s1 = float(b["v"].mean()), float(n["v"].mean())
    mid_total = (s0 + s1) / 2
    g0, g1 = b.groupby("theme")["v"].agg(["size", "mean"]), n.groupby("theme")["v"].agg(["size", "mean"])
    contributions = []
    for theme in sorted(set(g0.index) | set(g1.index)):
        w0 = float(g0.at[theme, "size"]) / len(b) if theme in g0.index else 0.0
        w1 = float(g1.at[theme, "size"]) / len(n) if theme in g1.index else 0.0
        m0 = float(g0.at[theme, "mean"]) if theme in g0.index else None
        m1 = float(g1.at[theme, "mean"]) if theme in g1.index else None
        a0 = m0 if m0 is not None else m1
        a1 = m1 if m1 is not None else m0
        assert a0 is not None and a1 is not None  # every theme here has scored comments in one cycle at least
        volume = (w1 - w0) * ((a0 + a1) / 2 - mid_total)
        within = (w0 + w1) / 2 * (a1 - a0)
        label = "no theme" if theme == NO_THEME else labels.get(int(theme), f"theme {theme}")
        contributions.append(ThemeContribution(int(theme), label, w0, w1, m0, m1, volume, within))
    contributions.sort(key=lambda c: -abs(c.total))
    return Attribution(score_kind or "other", s0, s1, len(b), len(n), contributions)


# ---- emerging / fading --------------------------------------------------------------------------


@dataclass
class ThemeShift:
    theme: int
    label: str
    share_before: float
    share_now: float
    comments_before: int
    comments_now: int
    p_value: float
    p_adjusted: float
    direction: str  # emerging | fading
    ci_low: float
    ci_high: float

    @property
    def change(self) -> float:
        return self.share_now - self.share_before

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["change"] = self.change
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ThemeShift:
        return cls(**{k: v for k, v in doc.items() if k != "change"})


def holm(p_values: list[float]) -> list[float]:
    """Holm step-down adjusted p-values (family-wise error control), in the input order."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


def theme_shifts(
    before_topics: np.ndarray,
    now_topics: np.ndarray,
    labels: dict[int, str],
    *,
    alpha: float = ALPHA,
    min_change: float = MIN_SHARE_CHANGE,
    direction: str | None = None,
) -> tuple[list[ThemeShift], int]:
    """Themes whose share of comments rose (emerging) or fell (fading) against the pooled earlier cycles.

    Args:
        before_topics: topic ids of every comment of the earlier cycles (pooled), -1 = none.
        now_topics: topic ids of this cycle's comments.
        labels: theme id -> label.
        alpha: family-wise error rate (Holm) across the themes tested.
        min_change: smallest absolute share change worth reporting.
        direction: "emerging" or "fading" to report only that way (every theme is still tested and counted).

    Returns:
        (the significant, large-enough shifts, largest first; the number of themes tested).
    """
    before_topics = np.asarray(before_topics, dtype=int)
    now_topics = np.asarray(now_topics, dtype=int)
    n0, n1 = len(before_topics), len(now_topics)
    if n0 == 0 or n1 == 0:
        return [], 0
    themes = sorted((set(before_topics.tolist()) | set(now_topics.tolist())) - {NO_THEME})
    rows = []
    for theme in themes:
        x0, x1 = int((before_topics == theme).sum()), int((now_topics == theme).sum())
        p0, p1 = x0 / n0, x1 / n1
        pooled = (x0 + x1) / (n0 + n1)
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
        p = float(2 * stats.norm.sf(abs(p1 - p0) / se0)) if se0 > 0 else 1.0
        se = math.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)
        rows.append((theme, x0, x1, p0, p1, p, se))
    adjusted = holm([r[5] for r in rows])
    shifts = []
    for (theme, x0, x1, p0, p1, p, se), q in zip(rows, adjusted):
        way = "emerging" if p1 > p0 else "fading"
        if q < alpha and abs(p1 - p0) >= min_change and direction in (None, way):
            shifts.append(
                ThemeShift(
                    theme,
                    labels.get(theme, f"theme {theme}"),
                    p0,
                    p1,
                    x0,
                    x1,
                    p,
                    q,
                    "emerging" if p1 > p0 else "fading",
                    (p1 - p0) - Z95 * se,
                    (p1 - p0) + Z95 * se,
                )
            )
    shifts.sort(key=lambda s: -abs(s.change))
    return shifts, len(themes)


def nearest_theme(embeddings: np.ndarray, centroids: dict[int, np.ndarray], min_similarity: float) -> np.ndarray:
    """Each comment's nearest theme centroid (cosine), or -1 below ``min_similarity``."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    if len(vectors) == 0 or not centroids:
        return np.full(len(vectors), NO_THEME, dtype=int)
    ids = np.array(sorted(centroids), dtype=int)
    matrix = np.stack([np.asarray(centroids[i], dtype=np.float32) for i in ids])
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = vectors @ matrix.T
    best = sims.argmax(axis=1)
    return np.where(sims[np.arange(len(vectors)), best] >= min_similarity, ids[best], NO_THEME)


@dataclass
class WhatIsNew:
    """Emerging and fading themes against the pooled earlier cycles, with how they were measured."""

    emerging: list[ThemeShift]
    fading: list[ThemeShift]
    cycles_before: int
    comments_before: int
    comments_now: int
    themes_tested: int
    method: str

    def to_json(self) -> dict[str, Any]:
        return {
            "emerging": [s.to_json() for s in self.emerging],
            "fading": [s.to_json() for s in self.fading],
            "cycles_before": self.cycles_before,
            "comments_before": self.comments_before,
            "comments_now": self.comments_now,
            "themes_tested": self.themes_tested,
            "method": self.method,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> WhatIsNew:
        return cls(
            [ThemeShift.from_json(s) for s in doc.get("emerging", [])],
            [ThemeShift.from_json(s) for s in doc.get("fading", [])],
            doc.get("cycles_before", 0),
            doc.get("comments_before", 0),
            doc.get("comments_now", 0),
            doc.get("themes_tested", 0),
            doc.get("method", ""),
        )


def what_is_new(
    before_embeddings: np.ndarray,
    now_embeddings: np.ndarray,
    now_centroids: dict[int, np.ndarray],
    previous_centroids: dict[int, np.ndarray],
    labels: dict[int, str],
    *,
    cycles_before: int,
    min_similarity: float,
    alpha: float = ALPHA,
    min_change: float = MIN_SHARE_CHANGE,
) -> WhatIsNew:
    """Emerging and fading themes, each measured with one theme definition on both periods.

    Topics are refitted every cycle, so a theme can come back split in two or under a new id
    although nobody talks about it more; comparing the two fits' own shares would call that new.
    Instead every comment of both periods is given its nearest theme centroid by the same rule:
    this cycle's themes (to find what *rose*: emerging) and last cycle's themes (to find what
    *fell*: fading). A theme nobody mentioned before has (almost) no earlier comments near it.

    Args:
        before_embeddings: embeddings of the earlier cycles' comments (pooled).
        now_embeddings: this cycle's comments.
        now_centroids: this cycle's theme id -> centroid.
        previous_centroids: last cycle's theme id -> centroid (same embedding model), may be empty.
        labels: theme id -> label (this cycle's, then last cycle's).
        cycles_before: how many earlier cycles were pooled (for the report).
        min_similarity: cosine needed to count a comment to a theme ([topics] outlier_similarity).
        alpha, min_change: Holm family-wise error rate; smallest share change reported.
    """
    emerging, tested_now = theme_shifts(
        nearest_theme(before_embeddings, now_centroids, min_similarity),
        nearest_theme(now_embeddings, now_centroids, min_similarity),
        labels,
        alpha=alpha,
        min_change=min_change,
        direction="emerging",
    )
    fading: list[ThemeShift] = []
    tested_before = 0
    if previous_centroids:
        fading, tested_before = theme_shifts(
            nearest_theme(before_embeddings, previous_centroids, min_similarity),
            nearest_theme(now_embeddings, previous_centroids, min_similarity),
            labels,
            alpha=alpha,
            min_change=min_change,
            direction="fading",
        )
    return WhatIsNew(
        emerging,
        fading,
        cycles_before,
        len(before_embeddings),
        len(now_embeddings),
        tested_now + tested_before,
        (
            f"share of comments nearest each theme (cosine >= {min_similarity}) now vs the last {cycles_before} "
            f"cycle(s) pooled; emerging measured on this cycle's themes, fading on last cycle's; two-proportion "
            f"z test, Holm-corrected across the themes tested (alpha {alpha}); reported when the share moved at "
            f"least {100 * min_change:.0f} points"
        ),
    )
