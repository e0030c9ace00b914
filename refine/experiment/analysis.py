"""Analysing an A/B test: per metric x arm x segment effects, SRM, CUPED, corrections, guardrails, decision."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from refine.errors import RefineError
from refine.experiment import bayesian, sequential
from refine.experiment._common import _ALL, _finite, _fmt, _label, _numeric, _require_columns, is_binary
from refine.experiment.bayesian import Prior
from refine.experiment.data import (
    ArmLabels,
    ConsistencyCheck,
    _clean,
    _normalise_covariates,
    parse_arm_map,
    parse_consistency,
    resolve_arms,
)
from refine.experiment.estimators import (
    cuped_adjust,
    effect_from_moments,
    moments,
    srm_check,
    two_proportion,
    welch,
    winsorize,
)
from refine.experiment.heterogeneity import HeterogeneityTest, breakdown
from refine.experiment.report import ABReport, ArmDecision, Decision
from refine.experiment.timeline import DailySeries, NoveltyCheck, daily_series, day_grid, novelty_checks, parse_days
from refine.io.privacy import redact
from refine.stats import CORRECTIONS, adjust_pvalues

Cell = dict[str, Any]  # one results row of ab_report.json: a metric x treatment arm x segment


def _cell(
    y: np.ndarray,
    arm_mask: np.ndarray,
    control_mask: np.ndarray,
    *,
    binary: bool,
    adjusted: np.ndarray | None,
    level: float,
) -> Cell:
    if binary and adjusted is None:
        # counts only: no copy of the metric per arm (a 0/1 metric's sum is its count of ones)
        n_t, n_c = int(np.count_nonzero(arm_mask)), int(np.count_nonzero(control_mask))
        ones = y > 0.5
        x_t, x_c = float(np.count_nonzero(ones & arm_mask)), float(np.count_nonzero(ones & control_mask))
        y_t: np.ndarray | None = None
        y_c: np.ndarray | None = None
        mean_t, mean_c = (x_t / n_t if n_t else None), (x_c / n_c if n_c else None)
    else:
        y_t, y_c = y[arm_mask], y[control_mask]
        n_t, n_c = len(y_t), len(y_c)
        mean_t = float(y_t.mean()) if n_t else None
        mean_c = float(y_c.mean()) if n_c else None
    cell: dict[str, Any] = {
        "n_control": n_c,
        "n_treatment": n_t,
        "mean_control": mean_c,
        "mean_treatment": mean_t,
    }
    if n_t < 2 or n_c < 2:
        cell.update({"skipped": f"fewer than 2 units in an arm ({n_c} control, {n_t} treatment)", "p_value": None})
        return cell
    if adjusted is not None:
        a_t, a_c = adjusted[arm_mask], adjusted[control_mask]
        res = welch(a_t.mean(), a_t.var(ddof=1), n_t, a_c.mean(), a_c.var(ddof=1), n_c, level)
        both = np.concatenate([y_t, y_c])
        both_adj = np.concatenate([a_t, a_c])
        var_y = both.var(ddof=1)
        cell["method"] = "CUPED + Welch t-test"
        cell["mean_control_adjusted"] = float(a_c.mean())
        cell["mean_treatment_adjusted"] = float(a_t.mean())
        cell["variance_reduction"] = float(1 - both_adj.var(ddof=1) / var_y) if var_y > 0 else None
    elif binary:
        res = two_proportion(x_t, n_t, x_c, n_c, level)
        cell["method"] = "two-proportion z-test (pooled); unpooled normal CI"
    else:
        assert y_t is not None and y_c is not None  # only a counts-only 0/1 cell has no per-arm copy
        res = welch(y_t.mean(), y_t.var(ddof=1), n_t, y_c.mean(), y_c.var(ddof=1), n_c, level)
        cell["method"] = "Welch t-test"
    cell.update(_lift_fields(res))
    return cell


def _plain(result: Cell, binary: bool) -> str:
    if result.get("p_value") is None:
        return f"{result['metric']}: not enough data to compare."
    sequential_ci = result.get("interval") == "sequential" and "sequential" in result
    lo, hi = result["sequential"]["abs_ci"] if sequential_ci else result["abs_ci"]

    def amount(v: float) -> str:
        return f"{abs(v) * 100:.2f} points" if binary else f"{abs(v):.4g}"

    def side(v: float) -> str:
        return f"{amount(v)} {'higher' if v >= 0 else 'lower'}"

    name = f"{result['metric']} ({result['arm']} vs control)"
    return f"{name}: between {side(lo)} and {side(hi)} ({int(round(result['ci_level'] * 100))}% {'always-valid ' if sequential_ci else ''}CI)."


INTERVALS = ("fixed", "sequential")


def _parse_ratios(ratios: dict[str, tuple[str, str]] | list[str] | None) -> dict[str, tuple[str, str]]:
    """{"name": ("numerator", "denominator")} from a dict or "name=numerator/denominator" strings."""
    if not ratios:
        return {}
    if isinstance(ratios, dict):
        return {str(k).strip(): (str(v[0]).strip(), str(v[1]).strip()) for k, v in ratios.items()}
    out = {}
    for spec in ratios:
        name, _, rest = str(spec).partition("=")
        num, _, den = rest.partition("/")
        if not (name.strip() and num.strip() and den.strip()):
            raise RefineError(
                f"ratio metric {spec!r} must be NAME=NUMERATOR/DENOMINATOR (e.g. revenue_per_order=revenue/orders)"
            )
        out[name.strip()] = (num.strip(), den.strip())
    return out


def _parse_caps(caps: dict[str, float] | list[str] | None) -> dict[str, float]:
    """{"metric": percentile} from a dict or "metric:0.99" strings; the percentile is a fraction in (0.5, 1)."""
    if not caps:
        return {}
    items = caps.items() if isinstance(caps, dict) else (str(c).rsplit(":", 1) for c in caps)
    out = {}
    for pair in items:
        if len(pair) != 2:
            raise RefineError(f"cap {':'.join(pair)!r} must be METRIC:PERCENTILE (e.g. revenue:0.99)")
        name, value = pair
        try:
            pct = float(value)
        except ValueError:
            raise RefineError(f"cap for {name!r}: {value!r} is not a number (write revenue:0.99)") from None
        if not 0.5 < pct < 1:
            raise RefineError(f"cap for {name!r}: the percentile must be between 0.5 and 1 (e.g. 0.99), not {pct:g}")
        out[str(name).strip()] = pct
    return out


def _tuning_from(tuning: float | None, plan: dict[str, Any] | None) -> tuple[float, str]:
    if tuning is not None:
        if not tuning > 0:
            raise RefineError("the sequential tuning parameter must be a positive number of units")
        return float(tuning), "given"
    seq = (plan or {}).get("sequential") or {}
    if seq.get("tuning"):
        return float(seq["tuning"]), "the plan's planned sample size"
    if plan and plan.get("n_total_required"):
        return float(plan["n_total_required"]), "the plan's planned sample size"
    return sequential.DEFAULT_TUNING, "default (GrowthBook's 5000)"


def _add_sequential_and_bayes(cell: Cell, *, alpha: float, tuning: float, prior: Prior, lower: bool) -> None:
    """Always-valid interval and p-value, and the Bayesian read-out, from the cell's estimate and standard error."""
    n_total = cell["n_control"] + cell["n_treatment"]
    lo, hi = sequential.interval(cell["abs_lift"], cell["se"], n_total, alpha, tuning)
    rel_se = cell.get("rel_se")
    rlo, rhi = (
        sequential.interval(cell["rel_lift"], rel_se, n_total, alpha, tuning) if rel_se is not None else (None, None)
    )
    cell["sequential"] = {
        "abs_ci": [float(lo), float(hi)],
        "rel_ci": [None if rlo is None else float(rlo), None if rhi is None else float(rhi)],
        "p_value": float(sequential.p_value(cell["abs_lift"], cell["se"], n_total, alpha, tuning)),
        "tuning": tuning,
    }
    base = cell.get("mean_control")
    bayes: dict[str, Any] = {"prior": prior.to_json(), "scale": "relative"}
    if rel_se is not None and math.isfinite(rel_se) and rel_se > 0:
        mean, sd = bayesian.posterior(cell["rel_lift"], rel_se, prior)
        keep_risk, ship_risk = bayesian.risks(mean, sd, lower)
        clo, chi = bayesian.credible_interval(mean, sd, alpha)
        bayes.update(
            {
                "chance_to_win": float(bayesian.chance_to_win(mean, sd, lower)),
                "rel_mean": float(mean),
                "rel_ci": [float(clo), float(chi)],
                "risk_ship": float(ship_risk),
                "risk_keep": float(keep_risk),
            }
        )
    else:
        bayes["skipped"] = "control mean is 0 or the relative effect has no spread: no relative read-out"
    if cell["se"] > 0 and base:
        mean, sd = bayesian.posterior(cell["abs_lift"], cell["se"], prior, scale=base)
        keep_risk, ship_risk = bayesian.risks(mean, sd, lower)
        clo, chi = bayesian.credible_interval(mean, sd, alpha)
        bayes.update(
            {
                "abs_mean": float(mean),
                "abs_ci": [float(clo), float(chi)],
                "abs_risk_ship": float(ship_risk),
                "abs_chance_to_win": float(bayesian.chance_to_win(mean, sd, lower)),
            }
        )
    cell["bayesian"] = bayes


def _moment_cell(
    mt: dict[str, np.ndarray], mc: dict[str, np.ndarray], kind: str, level: float, den_name: str | None
) -> Cell:
    """A results cell from per-arm sums (ratio metrics): same keys as ``_cell``."""
    n_t, n_c = int(mt["n"]), int(mc["n"])
    cell: dict[str, Any] = {"n_control": n_c, "n_treatment": n_t, "mean_control": None, "mean_treatment": None}
    if n_t < 2 or n_c < 2:
        cell.update({"skipped": f"fewer than 2 units in an arm ({n_c} control, {n_t} treatment)", "p_value": None})
        return cell
    if kind == "ratio" and (mt["sd"] == 0 or mc["sd"] == 0):
        which = "control" if mc["sd"] == 0 else "treatment"
        cell.update(
            {"skipped": f"denominator {den_name!r} sums to 0 in {which}: the ratio is undefined", "p_value": None}
        )
        return cell
    with np.errstate(all="ignore"):
        res = effect_from_moments(mt, mc, kind, level)
    cell["mean_treatment"], cell["mean_control"] = float(res["mean_t"]), float(res["mean_c"])
    cell["method"] = "ratio of sums, delta-method variance, Welch t-test"
    cell.update(_lift_fields(res))
    return cell


def _lift_fields(res: dict[str, np.ndarray]) -> dict[str, float | list[float]]:
    """A cell's lift, intervals and test from an estimator's result (two_proportion, welch, effect_from_moments)."""
    return {
        "abs_lift": float(res["diff"]),
        "abs_ci": [float(res["lo"]), float(res["hi"])],
        "se": float(res["se"]),
        "rel_lift": float(res["rel"]),
        "rel_ci": [float(res["rel_lo"]), float(res["rel_hi"])],
        "rel_se": float(res["rel_se"]),
        "statistic": float(res["stat"]),
        "df": float(res["df"]),
        "p_value": float(res["p"]),
    }


def _keep(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """values[present], without the copy when every value is present (the common case on a big table)."""
    return values if present.all() else values[present]


def _labels_with_limit(frame: pd.DataFrame, column: str, max_levels: int) -> tuple[np.ndarray, list[str]]:
    labels = _label(frame[column]).fillna("(missing)")
    levels = sorted(set(labels))
    if len(levels) > max_levels:
        raise RefineError(
            f"column {column!r} has {len(levels)} distinct values; a breakdown takes at most {max_levels} "
            "(raise it with --max-levels or [ab] max_levels)"
        )
    index = {v: i for i, v in enumerate(levels)}
    return labels.map(index).to_numpy(dtype=np.int64), levels


Breakdown = tuple[str, np.ndarray, list[str]]  # a breakdown column: its name, level code per unit, its levels


@dataclass
class _Settings:
    """analyze_experiment's arguments, normalised and checked: what every step of the analysis reads."""

    unit: str
    arm: str
    control: str
    metrics: list[str]
    guardrails: list[str]
    lower_is_better: list[str]
    attributes: list[str]
    segment: str | None
    timestamp: str | None
    as_of: str | None
    correction: str
    alpha: float
    interval: str
    expected_split: float
    srm_threshold: float
    prior: Prior
    plan: dict[str, Any] | None
    max_levels: int
    ratio_specs: dict[str, tuple[str, str]]
    cap_specs: dict[str, float]
    arm_map: dict[str, str] = field(default_factory=dict)  # --arm-map: arm label -> the arm it counts as
    timestamp_format: str | None = None  # --timestamp-format: a strptime pattern for the timestamp column
    # filled in by _check_settings
    tuning: float = 0.0
    tuning_source: str = ""
    analysed: list[str] = field(default_factory=list)  # the metrics, then the guardrails that are not metrics
    cov: dict[str, str] = field(default_factory=dict)  # metric -> its CUPED covariate column
    checks: list[ConsistencyCheck] = field(default_factory=list)

    @property
    def level(self) -> float:
        """The confidence level of the intervals."""
        return 1 - self.alpha


@dataclass
class _Units:
    """The accepted units (one row each), their arms and exposure days, and the data-quality account."""

    accepted: pd.DataFrame
    quality: dict[str, Any]
    treatments: list[str]
    arm_order: list[str]  # control first, then the treatments
    arm_codes: np.ndarray  # index into arm_order, per accepted unit
    counts: dict[str, int]  # accepted units per arm, in arm_order
    days: list[str]  # the exposure days (empty without a timestamp)
    day_all: np.ndarray | None  # day index per accepted unit (None without a timestamp)
    labels: ArmLabels  # arm labels mapped, left out or kept though rare
    rejects: pd.DataFrame  # the input rows left out for their arm label, with the reason (ab_rejects.csv)
    sources: dict[str, str]  # column -> the file it came from (for messages)


@dataclass
class _Metric:
    """One analysed metric on the units that have a value for it, as its tests read it."""

    name: str
    kind: str  # binary | continuous | ratio
    y: np.ndarray  # the values (capped when a cap is given); a ratio's numerator
    present: np.ndarray  # which accepted units have the metric
    codes: np.ndarray  # arm code per unit with the metric (0 = control)
    info: dict[str, Any]  # the metric's entry of ab_report.json's "metrics"
    den: np.ndarray | None = None  # a ratio's denominator
    x: np.ndarray | None = None  # the CUPED covariate, missing values filled with its mean
    adjusted: np.ndarray | None = None  # the CUPED-adjusted values
    constant: bool = False


@dataclass
class _Findings:
    """What the analysis finds, step by step: the parts of ab_report.json."""

    warnings: list[str] = field(default_factory=list)
    srm: dict[str, Any] = field(default_factory=dict)
    metric_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: list[Cell] = field(default_factory=list)
    series: list[DailySeries] = field(default_factory=list)
    novelty: list[NoveltyCheck] = field(default_factory=list)
    heterogeneity: list[HeterogeneityTest] = field(default_factory=list)
    tests: int = 0  # tests in the corrected family
    guardrails: list[dict[str, Any]] = field(default_factory=list)
    accrual: dict[str, Any] = field(default_factory=dict)
    decision: Decision | None = None


def analyze_experiment(
    data: pd.DataFrame,
    *,
    unit: str,
    arm: str,
    control: str,
    metrics: list[str],
    covariates: dict[str, str] | list[str] | None = None,
    segment: str | None = None,
    guardrails: list[str] | None = None,
    correction: str = "bh",
    alpha: float = 0.05,
    consistency: list | None = None,
    lower_is_better: list[str] | None = None,
    expected_split: float = 0.5,
    srm_threshold: float = 0.001,
    ratios: dict[str, tuple[str, str]] | list[str] | None = None,
    caps: dict[str, float] | list[str] | None = None,
    timestamp: str | None = None,
    as_of: str | None = None,
    attributes: list[str] | None = None,
    interval: str = "fixed",
    tuning: float | None = None,
    prior: Prior | None = None,
    plan: dict[str, Any] | None = None,
    max_levels: int = 500,
    arm_map: dict[str, str] | list[str] | None = None,
    timestamp_format: str | None = None,
) -> ABReport:
    """Analyze an A/B test: one row per unit (after cleaning), metrics as numeric columns.

    Args:
        expected_split: expected share of units in the treatment arm(s), shared equally when there are several.
        covariates: pairs metrics with pre-period columns for CUPED: a dict, a list positional with ``metrics``
            ("-" skips one), or a list of "metric:covariate" strings.
        ratios: ratio metrics ``{"revenue_per_order": ("revenue", "orders")}`` or "name=num/den" strings, analysed by
            the delta method; a ratio named in ``metrics`` takes that place, otherwise it is added as secondary.
        caps: winsorize metrics at a percentile of the pooled data, ``{"revenue": 0.99}`` or "revenue:0.99".
        timestamp: exposure time column: enables the daily cumulative chart, the novelty check and days-to-go.
        timestamp_format: a strptime pattern for it ("%d/%m/%Y"); without one, day-first or month-first is
            decided from the whole column (refine.io.dates), with a warning when nothing decides it.
        as_of: analyse only units exposed up to this date (YYYY-MM-DD), as on that day; later rows are counted out.
        attributes: more columns to break the effect down by ("who it helps"), next to ``segment``.
        interval: "fixed" (fixed-horizon) or "sequential" (always-valid): which one judges significance.
        tuning: the sequential tuning parameter (units); default: the plan's sample size, else 5000.
        prior: normal prior on the relative effect for the Bayesian read-out (flat when None).
        plan: a plan.json document: the planned sample size (for "keep running: N more days") and tuning.
        max_levels: most distinct values a breakdown column may have.
        arm_map: arm labels to count as another arm, ``{"contrl": "control"}`` or "contrl=control" strings; the
            target must be a known arm. Without it, a label held by under 1% of units that reads as a misspelling
            of a known arm is left out (rows counted, kept in ``report.rejects``).

    Returns:
        An ``ABReport`` (named fields; ``to_json()`` is ab_report.json; ``write_ab_report`` writes the files).
    """
    ratio_specs = _parse_ratios(ratios)
    metrics = [m for m in (metrics or []) if m]
    metrics += [r for r in ratio_specs if r not in metrics]
    settings = _Settings(
        unit=unit,
        arm=arm,
        control=str(control).strip(),
        metrics=metrics,
        guardrails=[g for g in (guardrails or []) if g],
        lower_is_better=list(lower_is_better or []),
        attributes=[a for a in (attributes or []) if a],
        segment=segment,
        timestamp=timestamp,
        as_of=as_of,
        correction=correction,
        alpha=alpha,
        interval=interval,
        expected_split=expected_split,
        srm_threshold=srm_threshold,
        prior=prior or Prior(),
        plan=plan,
        max_levels=max_levels,
        ratio_specs=ratio_specs,
        cap_specs=_parse_caps(caps),
        arm_map=parse_arm_map(arm_map),
        timestamp_format=timestamp_format,
    )
    _check_settings(settings, data, tuning, covariates, consistency)
    return _analyze(data, settings)


def _check_settings(
    s: _Settings,
    data: pd.DataFrame,
    tuning: float | None,
    covariates: dict[str, str] | list[str] | None,
    consistency: list | None,
) -> None:
    """Refuse settings that cannot be analysed; fill in the tuning, the analysed metrics, CUPED pairs and checks."""
    if not s.metrics:
        raise RefineError("at least one metric is needed")
    if len(set(s.metrics)) != len(s.metrics):
        raise RefineError("a metric is listed twice")
    if s.correction not in ("bh", "holm"):
        raise RefineError(f"unknown correction {s.correction!r} (use bh or holm)")
    if s.interval not in INTERVALS:
        raise RefineError(f"unknown interval {s.interval!r} (use fixed or sequential)")
    if not 0 < s.alpha < 1:
        raise RefineError("alpha must be between 0 and 1")
    if not 0 < s.expected_split < 1:
        raise RefineError("the expected split must be strictly between 0 and 1")
    if s.prior.proper and not (s.prior.sd and s.prior.sd > 0 and math.isfinite(s.prior.sd)):
        raise RefineError("the prior's standard deviation must be a positive number")
    s.tuning, s.tuning_source = _tuning_from(tuning, s.plan)
    s.analysed = s.metrics + [g for g in s.guardrails if g not in s.metrics]
    for name in s.lower_is_better:
        if name not in s.analysed:
            raise RefineError(f"--lower-is-better names {name!r}, which is not among the metrics or guardrails")
    for name in s.ratio_specs:
        if name in data.columns:
            raise RefineError(f"ratio metric name {name!r} is also a column of the data; give the ratio another name")
    for name in s.cap_specs:
        if name not in s.analysed:
            raise RefineError(f"--cap names {name!r}, which is not among the metrics or guardrails")
        if name in s.ratio_specs:
            raise RefineError(f"--cap names the ratio metric {name!r}; cap its numerator column instead")
    s.cov = _normalise_covariates(covariates, s.metrics, s.analysed)
    for name in s.cov:
        if name in s.ratio_specs:
            raise RefineError(f"CUPED covariate given for the ratio metric {name!r}; CUPED applies to plain metrics")
    s.checks = [parse_consistency(c) for c in (consistency or [])]


def _analyze(data: pd.DataFrame, s: _Settings) -> ABReport:
    """The analysis on checked settings: units, sample ratio, each metric's tests, corrections, decision, report."""
    found = _Findings()
    units = _load_units(data, s, found.warnings)
    found.srm = _srm(units, s, found.warnings)
    breakdowns = [(c, *_labels_with_limit(units.accepted, c, s.max_levels)) for c in ([s.segment] if s.segment else [])]
    breakdowns += [(c, *_labels_with_limit(units.accepted, c, s.max_levels)) for c in s.attributes if c != s.segment]
    quality = units.quality
    quality["missing_outcome"], quality["missing_covariate_filled"], quality["metric_units"] = {}, {}, {}
    quality["metrics_without_values"] = []
    for metric in s.analysed:
        _analyse_metric(metric, units, s, breakdowns, found)
    found.tests = _correct(found.results, s)
    _judge(found.results, found.metric_info, s)
    _correct_heterogeneity(found.heterogeneity, s, found.warnings)
    found.guardrails = _guardrails(found.results, found.metric_info, s, found.warnings)
    for metric, missing in quality["missing_outcome"].items():
        if missing and missing >= 0.05 * len(units.accepted) and metric not in quality["metrics_without_values"]:
            # the test is about the units measured; a large unmeasured share can bias it (who goes unmeasured?)
            found.warnings.append(
                f"{missing} of {len(units.accepted)} accepted units ({missing / len(units.accepted):.0%}) have no "
                f"{metric!r} value and are left out of its test; check why before trusting it"
            )
    _correct_novelty(found.novelty, s, found.warnings)
    found.accrual = _accrual(units.counts, units.day_all, units.days)
    if s.plan and s.plan.get("metric") and s.plan["metric"] != s.metrics[0]:
        found.warnings.append(
            f"the plan was sized for {s.plan['metric']!r} but the primary metric here is {s.metrics[0]!r}; "
            "days-to-go use the plan's sample size as it is"
        )
    found.decision = _decide(
        found.results,
        found.guardrails,
        found.srm,
        s.metrics[0],
        units.treatments,
        s.correction,
        s.alpha,
        found.metric_info,
        s.interval,
        s.plan,
        found.accrual,
    )
    report = ABReport.from_json(_finite(_report_json(s, units, found)))
    report.rejects = units.rejects
    return report


def _load_units(data: pd.DataFrame, s: _Settings, warnings: list[str]) -> _Units:
    """The units that pass the data-quality checks (and the as-of date), with their arms and exposure days."""
    needed = [s.unit, s.arm, *(c for m in s.analysed for c in _columns_of(m, s)), *s.cov.values()]
    needed += [s.segment] if s.segment else []
    needed += s.attributes + ([s.timestamp] if s.timestamp else [])
    for check in s.checks:
        needed += [check.column, check.other]
    _require_columns(data, dict.fromkeys(needed), "data")
    labels = _arm_labels(data, s, warnings)
    seen = sorted(labels.arms.categories[np.unique(labels.arms.codes[(labels.arms.codes >= 0) & ~labels.excluded])])
    if s.control not in seen:
        raise RefineError(f"control value {s.control!r} is not in column {s.arm!r} (values: {', '.join(seen[:10])})")
    treatments = [a for a in seen if a != s.control]
    if not treatments:
        raise RefineError(f"column {s.arm!r} holds only the control arm {s.control!r}; there is no treatment arm")
    frame = data[list(dict.fromkeys(needed))].assign(__arm__=labels.arms)[~labels.excluded]
    frame, pre_excluded, days = _exposure_days(frame, s, warnings)
    pre_excluded = {"stray_arm_label": int(labels.excluded.sum()), **pre_excluded}
    load = dict(data.attrs.get("refine_load", {}))
    accepted, quality = _clean(frame, s.unit, s.arm, s.checks)
    quality["excluded_rows"].update(pre_excluded)
    quality["input_rows"] += sum(pre_excluded.values())
    quality["excluded_total"] = int(sum(quality["excluded_rows"].values()))
    quality["accounted"] = bool(quality["accepted_units"] + quality["excluded_total"] == quality["input_rows"])
    quality["input"] = load
    quality["arm_labels"] = {"left_out": labels.left_out, "mapped": labels.mapped, "rare_kept": labels.rare}
    arm_order = [s.control, *treatments]
    raw_codes = accepted["__arm__"].cat.codes.to_numpy()
    lookup = np.array([arm_order.index(a) if a in arm_order else -1 for a in accepted["__arm__"].cat.categories])
    arm_codes = lookup[raw_codes] if len(raw_codes) else np.zeros(0, dtype=np.int64)
    per_code = np.bincount(arm_codes, minlength=len(arm_order))
    counts = {a: int(per_code[i]) for i, a in enumerate(arm_order)}
    empty = [a for a, n in counts.items() if n == 0]
    if empty:
        raise RefineError(f"arm {empty[0]!r} has no units left after the data-quality checks")
    day_all = accepted["__day__"].to_numpy(dtype=np.int64) if s.timestamp else None
    rejects = data[labels.excluded].assign(reason=_label(data.loc[labels.excluded, s.arm]).map(labels.reasons))
    rejects.insert(0, "data_row", np.flatnonzero(labels.excluded) + 1)
    sources = data.attrs.get("refine_sources", {})
    return _Units(accepted, quality, treatments, arm_order, arm_codes, counts, days, day_all, labels, rejects, sources)


def _arm_labels(data: pd.DataFrame, s: _Settings, warnings: list[str]) -> ArmLabels:
    """The arm labels judged against the known arms (the plan's, when its arms are this column's labels)."""
    plan_arms = list((s.plan or {}).get("arms") or {}) if isinstance((s.plan or {}).get("arms"), dict) else []
    if plan_arms and s.control not in plan_arms:
        warnings.append(
            f"the plan's arms ({', '.join(plan_arms)}) are not the labels of column {s.arm!r}; arm labels are "
            "judged against the arms that hold at least 1% of units"
        )
        plan_arms = []
    labels = resolve_arms(
        data[s.arm], data[s.unit], s.control, column=s.arm, plan_arms=plan_arms or None, arm_map=s.arm_map
    )
    warnings += labels.warnings
    return labels


def _columns_of(metric: str, s: _Settings) -> list[str]:
    """The data columns a metric is computed from: a ratio's numerator and denominator, else its own column."""
    return list(s.ratio_specs[metric]) if metric in s.ratio_specs else [metric]


def _exposure_days(
    frame: pd.DataFrame, s: _Settings, warnings: list[str]
) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    """Each row's exposure day (``__day__``); rows with no readable timestamp or after the as-of date left out."""
    time_excluded: dict[str, int] = {}
    days: list[str] = []
    if s.timestamp:
        timestamp = s.timestamp
        day_codes, after, days = parse_days(frame[timestamp], timestamp, s.as_of, s.timestamp_format, warnings)
        bad = (day_codes < 0) & ~after
        time_excluded = {"missing_or_unreadable_timestamp": int(bad.sum()), "after_as_of": int(after.sum())}
        if bad.any():
            example = frame.loc[bad & frame[timestamp].notna().to_numpy(), timestamp]
            shown = f" (e.g. {redact(str(example.iloc[0]))[:40]!r})" if len(example) else ""
            warnings.append(
                f"{int(bad.sum())} rows have a missing or unreadable {timestamp!r}{shown} and are excluded (counted)"
            )
        frame = frame.assign(__day__=day_codes)
        if (day_codes < 0).any():
            frame = frame[day_codes >= 0]
    elif s.as_of is not None:
        raise RefineError("--as-of needs --timestamp (the column saying when each unit was exposed)")
    return frame, time_excluded, days


def _srm(units: _Units, s: _Settings, warnings: list[str]) -> dict[str, Any]:
    """The sample-ratio check of the accepted units per arm; warns of arms spelled alike and of a mismatch."""
    counts, n_treatments = units.counts, len(units.treatments)
    shares = [1 - s.expected_split] + [s.expected_split / n_treatments] * n_treatments
    srm = srm_check(list(counts.values()), shares, s.srm_threshold)
    srm.update({"arms": list(counts), "observed": list(counts.values()), "expected_shares": shares})
    srm["left_out"] = [{"label": x["label"], "rows": x["rows"], "units": x["units"]} for x in units.labels.left_out]
    by_folded: dict[str, list[str]] = {}
    for label in counts:
        by_folded.setdefault(label.casefold(), []).append(label)
    for spellings in (v for v in by_folded.values() if len(v) > 1):
        warnings.append(
            f"arms {', '.join(repr(a) for a in spellings)} differ only in letter case and are analysed "
            f"as separate arms; if they are one arm, fix the spelling in column {s.arm!r}"
        )
    if srm["mismatch"]:
        srm["warning"] = (
            f"SAMPLE RATIO MISMATCH: arm counts {counts} differ from the expected split "
            f"(chi-square p = {srm['p_value']:.2g} < {s.srm_threshold:g}). Assignment or logging is "
            "broken; do not trust the effects until the cause is found."
        )
        warnings.append(srm["warning"])
    return srm


def _analyse_metric(metric: str, units: _Units, s: _Settings, breakdowns: list[Breakdown], found: _Findings) -> None:
    """One metric: its cells (treatment arm x segment), daily series, novelty checks and who it helps."""
    m = _prepare_metric(metric, units, s, found.warnings)
    found.metric_info[metric] = m.info
    cells, overall = _metric_cells(m, units, s, breakdowns)
    if not m.present.any():
        for cell in cells:
            cell["skipped"] = "no value for any unit: not tested"
    found.results += cells
    if m.constant or not len(m.y):
        return
    _over_time(m, units, s, found)
    if metric in s.metrics:
        for column, level_codes, levels in breakdowns:
            found.heterogeneity += breakdown(
                column=column,
                metric=metric,
                kind="continuous" if m.adjusted is not None else m.kind,
                y=m.adjusted if m.adjusted is not None else m.y,
                d=m.den if m.kind == "ratio" else None,
                arm_codes=m.codes,
                arms=units.arm_order,
                level_codes=_keep(level_codes, m.present),
                levels=levels,
                overall=overall,
                level=s.level,
            )


def _metric_values(
    metric: str, units: _Units, s: _Settings, warnings: list[str]
) -> tuple[str, np.ndarray, np.ndarray | None, np.ndarray]:
    """A metric's kind, values, a ratio's denominator, and which accepted units have it."""
    accepted = units.accepted
    den = None
    if metric in s.ratio_specs:
        num_name, den_name = s.ratio_specs[metric]
        num_all = _numeric(accepted[num_name], num_name)
        den_all = _numeric(accepted[den_name], den_name, "denominator")
        present = (num_all.notna() & den_all.notna()).to_numpy()
        y, den = _keep(num_all.to_numpy(), present), _keep(den_all.to_numpy(), present)
        kind = "ratio"
        if len(den) and den.sum() == 0:
            raise RefineError(
                f"ratio metric {metric!r}: denominator {den_name!r} is 0 for every unit, so the ratio is undefined"
            )
        zero_den = int((den == 0).sum())
        units.quality.setdefault("zero_denominator", {})[metric] = zero_den
        if zero_den:
            warnings.append(
                f"ratio metric {metric!r}: {zero_den} units have {den_name!r} = 0; they stay in both sums "
                "(ratio of sums), adding to the numerator only"
            )
    else:
        y_all = _numeric(accepted[metric], metric)
        present = y_all.notna().to_numpy()
        y = _keep(y_all.to_numpy(), present)
        kind = "binary" if is_binary(y) else "continuous"
    return kind, y, den, present


def _prepare_metric(metric: str, units: _Units, s: _Settings, warnings: list[str]) -> _Metric:
    """A metric on the units that have it: typed, checked for a constant, capped and CUPED-adjusted as asked."""
    kind, y, den, present = _metric_values(metric, units, s, warnings)
    if not present.any():
        _no_values(metric, units, s, warnings)
    units.quality["missing_outcome"][metric] = int((~present).sum())
    units.quality["metric_units"][metric] = int(present.sum())
    info: dict[str, Any] = {
        "type": kind,
        "units": int(present.sum()),
        "lower_is_better": metric in s.lower_is_better,
        "role": "primary" if metric == s.metrics[0] else ("secondary" if metric in s.metrics else "guardrail"),
        "guardrail": metric in s.guardrails,
    }
    if kind == "ratio":
        info["ratio"] = {"numerator": s.ratio_specs[metric][0], "denominator": s.ratio_specs[metric][1]}
    m = _Metric(metric, kind, y, present, _keep(units.arm_codes, present), info, den=den)
    m.constant = len(y) > 0 and kind != "ratio" and bool(np.all(y == y[0]))
    if m.constant:
        info["constant"] = float(y[0])
        warnings.append(f"metric {metric!r} is constant (every unit = {y[0]:g}); it is not tested")
    if metric in s.cap_specs:
        if kind == "binary":
            raise RefineError(f"--cap names the 0/1 metric {metric!r}; capping changes nothing there")
        m.y, cap_value, n_capped = winsorize(y, s.cap_specs[metric])
        info["capped"] = {"percentile": s.cap_specs[metric], "cap": cap_value, "units_capped": n_capped}
    if metric in s.cov:
        _cuped(m, s.cov[metric], units)
    return m


def _no_values(metric: str, units: _Units, s: _Settings, warnings: list[str]) -> None:
    """A metric with no value for any accepted unit: the primary one stops the analysis, any other is named."""
    columns = _columns_of(metric, s)
    where = " and ".join(f"column {c!r} in {units.sources.get(c, 'the data')}" for c in columns)
    where += " has no values" if len(columns) == 1 else " never both have a value"
    if metric == s.metrics[0]:
        raise RefineError(
            f"primary metric {metric!r} has no value for any unit ({where}); nothing can be decided: "
            "check the export or the column name"
        )
    units.quality["metrics_without_values"].append(metric)
    role = "guardrail" if metric not in s.metrics else "secondary metric"
    warnings.append(f"{role} {metric!r} has no value for any unit ({where}): it is not tested")


def _cuped(m: _Metric, column: str, units: _Units) -> None:
    """CUPED on a metric: its covariate (missing values filled with the mean), theta, the adjusted values."""
    x_all = _numeric(units.accepted[column], column, "covariate")
    x = _keep(x_all.to_numpy(), m.present)
    miss_x = np.isnan(x)
    units.quality["missing_covariate_filled"][m.name] = int(miss_x.sum())
    if miss_x.all():
        raise RefineError(f"covariate {column!r} has no values for the units with {m.name!r}")
    m.x = np.where(miss_x, np.nanmean(x), x)
    m.adjusted, theta = cuped_adjust(m.y, m.x)
    var_y = m.y.var(ddof=1) if len(m.y) > 1 else float("nan")
    m.info["cuped"] = {
        "covariate": column,
        "theta": float(theta),
        "variance_reduction": float(1 - m.adjusted.var(ddof=1) / var_y) if var_y > 0 else None,
        "covariate_missing_filled": int(miss_x.sum()),
    }


def _metric_cells(
    m: _Metric, units: _Units, s: _Settings, breakdowns: list[Breakdown]
) -> tuple[list[Cell], dict[str, float]]:
    """A metric's cells, arm by arm (all units, then each segment), and each arm's overall absolute lift."""
    segments = list(breakdowns[0][2]) if s.segment else []
    seg_m = _keep(breakdowns[0][1], m.present) if s.segment else None
    cells: list[Cell] = []
    overall: dict[str, float] = {}
    ratio_sums: dict[object, dict[str, np.ndarray]] = {}  # per segment (or _ALL)
    for t_code, treatment in enumerate(units.treatments, start=1):
        t_all, c_all = m.codes == t_code, m.codes == 0
        for seg_code, seg in enumerate([_ALL, *segments]):
            inside = None if seg is _ALL or seg_m is None else (seg_m == seg_code - 1)
            t_mask = t_all if inside is None else inside & t_all
            c_mask = c_all if inside is None else inside & c_all
            if m.constant:
                cell = _constant_cell(m.info["constant"], t_mask, c_mask)
            elif m.den is not None:  # a ratio metric (kind "ratio")
                if seg not in ratio_sums:  # sums per arm inside the segment, once for every treatment arm
                    rows_in = slice(None) if inside is None else inside
                    ratio_sums[seg] = moments(m.codes[rows_in], len(units.arm_order), m.y[rows_in], m.den[rows_in])
                sums = ratio_sums[seg]
                cell = _moment_cell(
                    {k: v[t_code] for k, v in sums.items()},
                    {k: v[0] for k, v in sums.items()},
                    "ratio",
                    s.level,
                    s.ratio_specs[m.name][1],
                )
            else:
                cell = _cell(m.y, t_mask, c_mask, binary=m.kind == "binary", adjusted=m.adjusted, level=s.level)
            if cell.get("p_value") is not None:
                lower = m.info["lower_is_better"]
                _add_sequential_and_bayes(cell, alpha=s.alpha, tuning=s.tuning, prior=s.prior, lower=lower)
                if seg is _ALL:
                    overall[treatment] = cell["abs_lift"]
            cell.update(
                {
                    "metric": m.name,
                    "arm": treatment,
                    "segment": seg,
                    "role": m.info["role"],
                    "type": m.info["type"],
                    "ci_level": s.level,
                    "interval": s.interval,
                }
            )
            cells.append(cell)
    return cells, overall


def _constant_cell(value: float, t_mask: np.ndarray, c_mask: np.ndarray) -> Cell:
    """The cell of a constant metric: counted, not tested."""
    return {
        "n_control": int(c_mask.sum()),
        "n_treatment": int(t_mask.sum()),
        "mean_control": value,
        "mean_treatment": value,
        "skipped": f"metric is constant (every unit = {value:g}): nothing to compare",
        "p_value": None,
    }


def _over_time(m: _Metric, units: _Units, s: _Settings, found: _Findings) -> None:
    """A metric's daily cumulative series per arm and, for a primary or secondary metric, its novelty checks."""
    if units.day_all is None:  # no timestamp column
        return
    series_kind = "cuped" if m.adjusted is not None else m.kind
    d_col = m.den if m.kind == "ratio" else (m.x if m.adjusted is not None else None)
    day_m = _keep(units.day_all, m.present)
    n_arms, n_days = len(units.arm_order), len(units.days)
    grid = day_grid(m.y, d_col, m.codes, day_m, n_arms, n_days, binary=series_kind == "binary")
    found.series += daily_series(
        metric=m.name,
        kind=series_kind,
        arms=units.arm_order,
        days=units.days,
        level=s.level,
        tuning=s.tuning,
        interval=s.interval,
        grid=grid,
    )
    if m.name in s.metrics:
        found.novelty += novelty_checks(
            metric=m.name, kind=series_kind, arms=units.arm_order, days=units.days, level=s.level, grid=grid
        )


def _correct(results: list[Cell], s: _Settings) -> int:
    """Corrected p-values (fixed and sequential) over the family of primary and secondary tests; its size."""
    family = [r for r in results if r["metric"] in s.metrics and r.get("p_value") is not None]
    for r, p in zip(family, adjust_pvalues([r["p_value"] for r in family], s.correction)):
        r["p_adjusted"] = float(p)
    for r, p in zip(family, adjust_pvalues([r["sequential"]["p_value"] for r in family], s.correction)):
        r["sequential"]["p_adjusted"] = float(p)
    return len(family)


def _judge(results: list[Cell], metric_info: dict[str, dict[str, Any]], s: _Settings) -> None:
    """Each cell's significance (on the interval in force) and direction, and the all-units cells' summaries."""
    for r in results:
        lower = metric_info[r["metric"]]["lower_is_better"]
        if r.get("p_value") is None:
            r.update({"p_adjusted": None, "significant": False, "direction": "unknown"})
            continue
        r.setdefault("p_adjusted", None)  # guardrail-only metrics are judged uncorrected
        if s.interval == "sequential":
            seq = r["sequential"]
            p_judged = seq.get("p_adjusted", seq["p_value"])
        else:
            p_judged = r["p_adjusted"] if r["p_adjusted"] is not None else r["p_value"]
        r["significant"] = bool(p_judged < s.alpha)
        better = r["abs_lift"] < 0 if lower else r["abs_lift"] > 0
        r["direction"] = ("better" if better else "worse") if r["abs_lift"] != 0 else "flat"
        if r["segment"] is _ALL:
            r["summary"] = _plain(r, metric_info[r["metric"]]["type"] == "binary")


def _correct_heterogeneity(hetero: list[HeterogeneityTest], s: _Settings, warnings: list[str]) -> None:
    """Cochran's Q p-values corrected over every breakdown tested; warns where a level goes the other way."""
    tested = [h for h in hetero if h.p_value is not None]
    for h, p in zip(tested, adjust_pvalues([h.p_value for h in tested], s.correction)):
        h.p_adjusted = float(p)
        h.differs = bool(p < s.alpha)
    for h in hetero:
        hurt = [lv.level for lv in h.levels if lv.opposite]
        if hurt:
            warnings.append(
                f"{h.metric} ({h.arm}): the effect is significantly on the other side of the overall effect "
                f"for {h.column} = {', '.join(hurt[:5])}"
            )


def _guardrails(
    results: list[Cell], metric_info: dict[str, dict[str, Any]], s: _Settings, warnings: list[str]
) -> list[dict[str, Any]]:
    """One row per guardrail metric x treatment arm (all units): harmed or not, on uncorrected p-values."""
    rows = []
    for r in results:
        if r["segment"] is _ALL and metric_info[r["metric"]]["guardrail"]:
            p_guard = None
            if r.get("p_value") is not None:
                p_guard = r["sequential"]["p_value"] if s.interval == "sequential" else r["p_value"]
            harmed = p_guard is not None and p_guard < s.alpha and r["direction"] == "worse"
            rows.append(
                {
                    "metric": r["metric"],
                    "arm": r["arm"],
                    "harmed": bool(harmed),
                    "abs_lift": r.get("abs_lift"),
                    "abs_ci": r.get("abs_ci"),
                    "p_value": r.get("p_value"),
                    "p_judged": p_guard,
                    "lower_is_better": metric_info[r["metric"]]["lower_is_better"],
                }
            )
            if harmed:
                warnings.append(
                    f"GUARDRAIL HARMED: {r['metric']} is significantly worse in {r['arm']} (p = {p_guard:.3g})."
                )
    return rows


def _correct_novelty(novelty: list[NoveltyCheck], s: _Settings, warnings: list[str]) -> None:
    """Novelty checks corrected over the checks of the analysis; a flag that does not survive is lifted."""
    checked = [n for n in novelty if n.p_value is not None]
    for check, p in zip(checked, adjust_pvalues([n.p_value for n in checked], s.correction)):
        check.p_adjusted = float(p)
        if check.flagged and p >= s.alpha:
            check.flagged = False
            check.verdict = (
                f"early and late units differ at p = {check.p_value:.3g}, but not after {CORRECTIONS[s.correction]} "
                f"over the {len(checked)} novelty checks (p adjusted = {p:.3g})"
            )
    for check in novelty:
        if check.flagged:
            warnings.append(f"NOVELTY CHECK {check.metric} ({check.arm}): {check.verdict}")


def _report_json(s: _Settings, units: _Units, found: _Findings) -> dict[str, Any]:
    """The ab_report.json document, before it is made JSON-safe."""
    return {
        "kind": "refine A/B analysis",
        "version": 2,
        "settings": _settings_json(s, units.treatments),
        "decision": found.decision,
        "warnings": found.warnings,
        "data_quality": units.quality,
        "srm": found.srm,
        "metrics": found.metric_info,
        "results": found.results,
        "guardrails": found.guardrails,
        "correction": _correction_json(s.correction, found.tests, len(units.treatments)),
        "interval": {
            "in_force": s.interval,
            "tuning": s.tuning,
            "tuning_source": s.tuning_source,
            "statement": _interval_statement(s.interval, s.level, s.tuning, s.tuning_source),
        },
        "accrual": found.accrual,
        "daily": [series.to_json() for series in found.series],
        "novelty": [c.to_json() for c in found.novelty],
        "heterogeneity": [h.to_json() for h in found.heterogeneity],
        "method": _method_notes(s.level, s.prior),
    }


def _settings_json(s: _Settings, treatments: list[str]) -> dict[str, Any]:
    """The settings the analysis ran with, as ab_report.json records them."""
    plan = s.plan
    return {
        "unit": s.unit,
        "arm": s.arm,
        "control": s.control,
        "treatments": treatments,
        "metrics": s.metrics,
        "primary": s.metrics[0],
        "guardrails": s.guardrails,
        "covariates": s.cov,
        "segment": s.segment,
        "lower_is_better": s.lower_is_better,
        "correction": s.correction,
        "alpha": s.alpha,
        "ci_level": s.level,
        "expected_split": s.expected_split,
        "srm_threshold": s.srm_threshold,
        "consistency": [c.text for c in s.checks],
        "interval": s.interval,
        "sequential_tuning": s.tuning,
        "sequential_tuning_source": s.tuning_source,
        "prior": s.prior.to_json(),
        "ratios": {k: list(v) for k, v in s.ratio_specs.items()},
        "caps": s.cap_specs,
        "timestamp": s.timestamp,
        "as_of": s.as_of,
        "attributes": s.attributes,
        "plan": None
        if not plan
        else {k: plan.get(k) for k in ("proposal", "metric", "n_total_required", "n_per_arm_required", "power")},
    }


def _correction_json(correction: str, tests: int, n_arms: int) -> dict[str, Any]:
    """How the p-values were corrected for multiplicity, and over which tests."""
    return {
        "method": CORRECTIONS[correction],
        "tests": tests,
        "family": "primary and secondary metrics x treatment arms x (all units + each segment); "
        "guardrail-only metrics judged on uncorrected p-values",
        "treatment_arms": n_arms,
        "arms_statement": (
            f"{n_arms} treatment arms are each compared with control; every arm's tests are in the family, so "
            f"{CORRECTIONS[correction]} corrects over the arms too (pairwise against control, not Dunnett's test)"
            if n_arms > 1
            else "one treatment arm against control"
        ),
    }


def _interval_statement(interval: str, level: float, tuning: float, source: str) -> str:
    pct = f"{level * 100:g}%"
    if interval == "sequential":
        return (
            f"Sequential (always-valid) {pct} intervals are in force: they hold at every look, so the test may be "
            f"read daily and stopped as soon as one excludes zero. Tuning parameter {tuning:g} units ({source}). "
            "Fixed-horizon intervals are shown beside them for reference only."
        )
    return (
        f"Fixed-horizon {pct} intervals are in force: valid for one look at the planned sample size. Reading them "
        "daily and stopping at the first significant day inflates false positives; use --interval sequential to "
        "look any day."
    )


def _accrual(per_arm: dict[str, int], day_all: np.ndarray | None, days: list[str]) -> dict[str, Any]:
    """Units per arm and per day observed (for days-to-go)."""
    if day_all is None or not len(days):
        return {"days": None, "units": per_arm, "per_day": None}
    n_days = len(days)
    return {
        "days": n_days,
        "first_day": days[0],
        "last_day": days[-1],
        "units": per_arm,
        "per_day": {a: n / n_days for a, n in per_arm.items()},
    }


def _method_notes(level: float, prior: Prior | None = None) -> list[str]:
    pct = f"{level * 100:g}%"
    return [
        f"Binary metrics (values 0/1): absolute lift = difference in rates, {pct} CI by the normal approximation "
        "with the unpooled standard error; p-value from the pooled two-proportion z-test.",
        f"Continuous metrics: Welch's t-test; {pct} CI with Welch-Satterthwaite degrees of freedom.",
        "Ratio metrics (numerator / denominator, e.g. revenue per order): ratio of sums per arm, per-unit "
        "delta-method variance var(M)/mu_D^2 - 2 cov(M,D) mu_M/mu_D^3 + mu_M^2 var(D)/mu_D^4, Welch's t-test.",
        "Relative lift = treatment mean / control mean - 1, CI by the delta method (normal).",
        "CUPED (when a pre-period covariate is given): theta = cov(Y, X) / var(X) over all arms, "
        "Y_adj = Y - theta (X - mean X), Welch's t-test on Y_adj; variance reduction = 1 - var(Y_adj) / var(Y). "
        "Relative lift under CUPED uses the adjusted control mean.",
        "Capping (--cap metric:p): values above the p-th percentile of the pooled data (all arms) are set to it "
        "before any test.",
        "Sequential intervals: the asymptotic confidence sequence of Waudby-Smith et al. (2023), as GrowthBook's "
        "gbstats, on the same estimate and standard error; the sequential p-value is always valid.",
        "Bayesian read-out: normal posterior on the relative effect ("
        + (prior or Prior()).text()
        + "); chance to beat control, expected loss (risk) of shipping, credible interval, as gbstats.",
        "Who it helps: Cochran's Q across the levels of each breakdown column, corrected over every column x "
        "metric x arm tested; levels whose interval sits on the other side of zero from the overall effect are "
        "flagged.",
        "Sample-ratio mismatch: chi-square goodness of fit of accepted units per arm against the expected split.",
        "Confidence intervals are not adjusted for multiplicity; significance uses the corrected p-values.",
    ]


def _days_to_go(plan: dict[str, Any] | None, accrual: dict[str, Any], cell: Cell) -> tuple[int | None, str]:
    """Days still needed to reach the plan's sample size at the observed daily accrual (None when unknown)."""
    if not plan or not plan.get("n_per_arm_required"):
        return None, "no plan given (--plan plan.json), so the sample still needed is unknown"
    need = plan["n_per_arm_required"]
    have = {"treatment": cell["n_treatment"], "control": cell["n_control"]}
    short = {k: max(0, int(need.get(k, 0)) - have[k]) for k in have}
    if not any(short.values()):
        return 0, f"the planned sample ({need['treatment']} treatment / {need['control']} control) is reached"
    if not accrual.get("per_day"):
        return None, (
            f"{short['treatment']} treatment / {short['control']} control units short of the plan; "
            "give --timestamp to turn that into days"
        )
    n_days = accrual["days"]
    rates = {"treatment": cell["n_treatment"] / n_days, "control": cell["n_control"] / n_days}
    days = max(math.ceil(short[k] / rates[k]) if rates[k] > 0 else 10**9 for k in short if short[k])
    return days, (
        f"{short['treatment']} treatment / {short['control']} control units short of the planned "
        f"{need['treatment']} / {need['control']}; at the observed {rates['treatment']:.0f} / "
        f"{rates['control']:.0f} units a day that is {days} more days"
    )


def _decide(
    results: list[Cell],
    guardrail_rows: list[dict[str, Any]],
    srm: dict[str, Any],
    primary: str,
    treatments: list[str],
    correction: str,
    alpha: float,
    metric_info: dict[str, dict[str, Any]],
    interval: str,
    plan: dict[str, Any] | None,
    accrual: dict[str, Any],
) -> Decision:
    """Ship, stop or keep testing: for each treatment arm, on its primary cell, guardrails and sample ratio; overall."""
    per_arm: dict[str, ArmDecision] = {}
    sequential_ci = interval == "sequential"
    for treatment in treatments:
        cell = next(r for r in results if r["metric"] == primary and r["arm"] == treatment and r["segment"] is _ALL)
        harmed = [g for g in guardrail_rows if g["arm"] == treatment and g["harmed"]]
        binary = metric_info[primary]["type"] == "binary"
        reasons = []
        headline = None
        bayes_text = None
        if cell.get("p_value") is None:
            verdict = "keep testing"
            reasons.append(f"primary metric {primary}: {cell['skipped']}")
        else:
            ci = cell["sequential"]["abs_ci"] if sequential_ci else cell["abs_ci"]
            p_adj = cell["sequential"].get("p_adjusted") if sequential_ci else cell["p_adjusted"]
            lift = (
                f"{_fmt(cell['abs_lift'], binary, True)} [{_fmt(ci[0], binary, True)}, "
                f"{_fmt(ci[1], binary, True)}], {'always-valid ' if sequential_ci else ''}p adjusted ({correction}) = "
                f"{p_adj:.3g}"
            )
            good = cell["significant"] and cell["direction"] == "better"
            bad = cell["significant"] and cell["direction"] == "worse"
            if bad:
                reasons.append(f"primary metric {primary} is significantly worse: {lift}")
            for g in harmed:
                reasons.append(f"guardrail {g['metric']} is significantly harmed (p = {g['p_judged']:.3g})")
            if bad or harmed:
                verdict, headline = "stop", "don't ship"
            elif good and not srm["mismatch"]:
                verdict, headline = "ship", "ship"
                reasons.append(f"primary metric {primary} is significantly better: {lift}")
                reasons.append("no guardrail is significantly harmed" if guardrail_rows else "no guardrails were given")
                reasons.append(f"no sample-ratio mismatch (p = {srm['p_value']:.3g})")
            elif good:
                verdict, headline = "keep testing", "keep running: fix the sample ratio first"
                reasons.append(
                    f"primary metric {primary} is significantly better ({lift}), but the sample "
                    f"ratio is off (p = {srm['p_value']:.2g}): fix assignment before shipping"
                )
            else:
                reasons.append(f"primary metric {primary} is not significant after correction: {lift}")
                verdict, headline, more = _not_significant(cell, ci, binary, plan, accrual)
                reasons += more
            bayes_text = _bayes_text(cell.get("bayesian", {}))
        if srm["mismatch"] and verdict != "keep testing":
            reasons.append(f"warning: sample-ratio mismatch (p = {srm['p_value']:.2g})")
        headline = headline or {"ship": "ship", "stop": "don't ship"}.get(verdict, "keep running")
        per_arm[treatment] = {"decision": verdict, "headline": headline, "reasons": reasons, "bayesian": bayes_text}
    overall = _overall_decision(per_arm, treatments)
    overall["per_arm"] = per_arm
    return overall


def _not_significant(
    cell: Cell, ci: list[float], binary: bool, plan: dict[str, Any] | None, accrual: dict[str, Any]
) -> tuple[str, str | None, list[str]]:
    """Verdict, headline and reasons for a primary metric that is not significant: days to go, or what it rules out."""
    days, why = _days_to_go(plan, accrual, cell)
    pct = int(round(cell["ci_level"] * 100))
    bounds = f"[{_fmt(ci[0], binary, True)}, {_fmt(ci[1], binary, True)}]"
    if days == 0:
        return (
            "stop",
            "don't ship",
            [f"{why} without a significant effect; the {pct}% interval {bounds} bounds what it can be"],
        )
    if days is not None:
        return "keep testing", f"keep running: {days} more days to reach the planned power", [why]
    reasons = [
        f"the {pct}% CI already rules out effects outside {bounds}"
        "; if nothing in that range is worth shipping, stopping is reasonable"
    ]
    if plan:
        reasons.append(why)
    return "keep testing", None, reasons


def _bayes_text(bayes: dict[str, Any]) -> str | None:
    """The Bayesian read-out of the primary cell, in words (None without a relative read-out)."""
    if "chance_to_win" not in bayes:
        return None
    return (
        f"{bayes['chance_to_win']:.1%} chance to beat control; expected loss if shipped "
        f"{bayes['risk_ship'] * 100:.3g}% of the control mean ({bayes['prior']['kind']} prior)"
    )


def _overall_decision(per_arm: dict[str, ArmDecision], treatments: list[str]) -> Decision:
    """The decision over all treatment arms: the one arm's, else ship the arms to ship, stop all, or keep testing."""
    overall: Decision
    if len(treatments) == 1:
        only = per_arm[treatments[0]]
        overall = {
            "decision": only["decision"],
            "headline": only["headline"],
            "reasons": list(only["reasons"]),
            "bayesian": only["bayesian"],
        }
    else:
        ship = [t for t in treatments if per_arm[t]["decision"] == "ship"]
        if ship:
            overall = {
                "decision": "ship",
                "headline": f"ship {', '.join(ship)}",
                "reasons": [f"ship {', '.join(ship)}"],
            }
        elif all(per_arm[t]["decision"] == "stop" for t in treatments):
            overall = {"decision": "stop", "headline": "don't ship", "reasons": ["every treatment arm should stop"]}
        else:
            keep = [per_arm[t]["headline"] for t in treatments if per_arm[t]["decision"] == "keep testing"]
            overall = {
                "decision": "keep testing",
                "headline": keep[0] if keep else "keep running",
                "reasons": ["no treatment arm is ready to ship"],
            }
        overall["reasons"] += [f"{t}: {per_arm[t]['headline']}" for t in treatments]
    return overall
