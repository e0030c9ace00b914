"""Designing an A/B test: power and sample size (fixed horizon or sequential), deterministic hash assignment."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from refine.errors import RefineError
from refine.experiment import sequential
from refine.experiment._common import ARMS, _finite, _label, _numeric, _require_columns, is_binary
from refine.segments.rules import apply_rule


def hash_unit(salt: str, unit: Any) -> float:
    """sha256(salt + ":" + unit) mapped to [0, 1) (first 8 bytes of the digest / 2**64)."""
    digest = hashlib.sha256(f"{salt}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_arms(ids: pd.Series, strata: pd.Series | None, *, salt: str, treatment_share: float = 0.5) -> pd.Series:
    """Deterministic arms ("control" / "treatment") for unique ids, stratified when strata are given.

    Unstratified: treatment when hash(salt:id) < treatment_share. Stratified: inside each stratum the
    units are ordered by their hash, and the k-th unit goes to treatment when
    floor((k + 1) s + o) > floor(k s + o), with s the treatment share and o = hash(salt:stratum:<name>):
    systematic allocation from a hashed start, so every stratum is split to within one unit of s and the
    odd unit falls to either arm. The result depends on the set of ids and the salt, not on row order.
    """
    if not 0 < treatment_share < 1:
        raise RefineError("treatment share must be strictly between 0 and 1")
    keys = ids.astype(str)
    u = np.array([hash_unit(salt, k) for k in keys], dtype=float)
    if strata is None:
        return pd.Series(np.where(u < treatment_share, "treatment", "control"), index=ids.index)
    labels = _label(strata).fillna("(missing)")
    frame = pd.DataFrame({"key": keys.to_numpy(), "u": u, "stratum": labels.to_numpy()}, index=ids.index)
    arm = pd.Series("control", index=ids.index, dtype="object")
    for stratum, group in frame.groupby("stratum", sort=True):
        ordered = group.sort_values(["u", "key"], kind="mergesort")
        k = np.arange(len(ordered))
        offset = hash_unit(salt, f"stratum:{stratum}")
        take = np.floor((k + 1) * treatment_share + offset) > np.floor(k * treatment_share + offset)
        arm.loc[ordered.index[take]] = "treatment"
    return arm


def _h_to_rate(p: float, h: float) -> float:
    angle = math.asin(math.sqrt(p)) + h / 2
    return 1.0 if angle >= math.pi / 2 else math.sin(angle) ** 2


def _check_settings(*, alpha: float, power: float, treatment_share: float, mde: float, salt: str) -> None:
    """The one-line errors of settings no plan can use."""
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise RefineError("alpha and power must be between 0 and 1")
    if not 0 < treatment_share < 1:
        raise RefineError("treatment share must be strictly between 0 and 1")
    if not isinstance(mde, (int, float)) or not math.isfinite(mde) or mde == 0:
        raise RefineError("the minimum detectable effect must be a non-zero number")
    if not salt:
        raise RefineError("a salt is required (defaults to the proposal id)")


def _eligible(customers: pd.DataFrame, rule: str, customer_id: str, warnings: list[str]):
    """The customers the rule selects, one row per customer id (rows left out are counted in `warnings`)."""
    mask = apply_rule(customers, rule)
    eligible = customers.loc[mask]
    no_id = int(eligible[customer_id].isna().sum())
    if no_id:
        warnings.append(f"{no_id} eligible rows have no customer id and were left out.")
        eligible = eligible[eligible[customer_id].notna()]
    ids = _label(eligible[customer_id])
    duplicated = ids.duplicated(keep="first")
    if duplicated.any():
        warnings.append(
            f"{int(duplicated.sum())} eligible rows repeat a customer id; the first row of each customer was kept."
        )
        eligible, ids = eligible[~duplicated], ids[~duplicated]
    if eligible.empty:
        raise RefineError(f"the rule selects no customers: {rule}")
    return eligible, ids


@dataclass(frozen=True)
class _Baseline:
    """The metric among the eligible customers: its kind, mean and sd, and how many values it has."""

    binary: bool
    mean: float
    sd: float
    n: int
    missing: int


def _baseline(column: pd.Series, metric: str, warnings: list[str]) -> _Baseline:
    """The metric's baseline among the eligible customers (customers without a value counted in `warnings`)."""
    values = _numeric(column, metric)
    missing_metric = int(values.isna().sum())
    observed = values.dropna()
    if observed.empty:
        raise RefineError(f"metric {metric!r} has no values among the eligible customers")
    if missing_metric:
        warnings.append(
            f"{missing_metric} eligible customers have no {metric!r} value; the baseline uses the "
            f"other {len(observed)}."
        )
    return _Baseline(
        binary=is_binary(observed),
        mean=float(observed.mean()),
        sd=float(observed.std(ddof=1)) if len(observed) > 1 else float("nan"),
        n=int(len(observed)),
        missing=missing_metric,
    )


@dataclass(frozen=True)
class _Sizing:
    """How the test is sized: the statsmodels power engine on an effect size, alpha, power and the interval."""

    engine: Any  # NormalIndPower (binary metric) or TTestIndPower (continuous)
    effect: float
    effect_name: str
    alpha: float
    power: float
    interval: str
    seq_c: float  # the always-valid interval's half-width in standard errors at the planned total
    z_power: float

    def required(self, ratio: float) -> tuple[dict[str, int], dict[str, int]]:
        """Customers needed per arm for this interval, and for a fixed-horizon one."""
        n_t_req = float(
            self.engine.solve_power(
                effect_size=self.effect,
                nobs1=None,
                alpha=self.alpha,
                power=self.power,
                ratio=ratio,
                alternative="two-sided",
            )
        )
        fixed_required = {"treatment": int(math.ceil(n_t_req)), "control": int(math.ceil(n_t_req * ratio))}
        if self.interval == "sequential":
            # the confidence sequence tuned to N = the planned total is seq_c standard errors wide at N, so the
            # effect must sit (seq_c + z_power) standard errors from zero: n_t = (seq_c + z)^2 (1 + 1/ratio) / effect^2
            n_t_req = (self.seq_c + self.z_power) ** 2 * (1 + 1 / ratio) / self.effect**2
        required = {"treatment": int(math.ceil(n_t_req)), "control": int(math.ceil(n_t_req * ratio))}
        return required, fixed_required

    def detectable(self, counts: dict[str, int]) -> float:
        """The smallest detectable effect size with these arms (nan where statsmodels gives up)."""
        try:
            h = float(
                self.engine.solve_power(
                    effect_size=None,
                    nobs1=counts["treatment"],
                    alpha=self.alpha,
                    power=self.power,
                    ratio=counts["control"] / counts["treatment"],
                    alternative="two-sided",
                )
            )
        except Exception:  # statsmodels' root finder gives up on tiny samples
            h = float("nan")
        if self.interval == "sequential":
            h = (self.seq_c + self.z_power) * math.sqrt(1 / counts["treatment"] + 1 / counts["control"])
        return h


def _sizing(base: _Baseline, mde_abs: float, metric: str, *, alpha: float, power: float, interval: str) -> _Sizing:
    """Cohen's h (binary metric) or d (continuous) of the MDE, with the engine that sizes it."""
    if base.binary:
        target = base.mean + mde_abs
        if not 0 < base.mean < 1:
            raise RefineError(
                f"baseline rate of {metric!r} among eligible customers is {base.mean:g}; "
                "a power analysis needs a rate strictly between 0 and 1"
            )
        if not 0 < target < 1:
            raise RefineError(f"baseline {base.mean:.4g} plus the MDE {mde_abs:.4g} leaves the 0-1 range")
        effect = abs(2 * math.asin(math.sqrt(target)) - 2 * math.asin(math.sqrt(base.mean)))
        engine, effect_name = NormalIndPower(), "Cohen's h"
    else:
        if not base.sd > 0:
            raise RefineError(f"metric {metric!r} does not vary among the eligible customers")
        effect = abs(mde_abs) / base.sd
        engine, effect_name = TTestIndPower(), "Cohen's d"
    return _Sizing(
        engine=engine,
        effect=effect,
        effect_name=effect_name,
        alpha=alpha,
        power=power,
        interval=interval,
        seq_c=sequential.planned_multiplier(alpha),
        z_power=float(stats.norm.ppf(power)),
    )


def _assign(ids: pd.Series, segments: pd.Series, *, customer_id: str, segment: str, salt: str, share: float):
    """The assignment frame (customer id, segment, arm), customers per arm, and per arm within each segment."""
    arms = assign_arms(ids, segments, salt=salt, treatment_share=share)
    assignments = pd.DataFrame({customer_id: ids.to_numpy(), segment: segments.to_numpy(), "arm": arms.to_numpy()})
    counts = {a: int((assignments["arm"] == a).sum()) for a in ARMS}
    per_segment = {
        str(seg): {a: int((grp["arm"] == a).sum()) for a in ARMS}
        for seg, grp in assignments.groupby(_label(assignments[segment]).fillna("(missing)"), sort=True)
    }
    return assignments, counts, per_segment


def _mde_at_population(sizing: _Sizing, base: _Baseline, counts: dict[str, int]) -> dict[str, Any]:
    """The smallest detectable effect with the eligible customers: effect size, absolute and relative."""
    mde_pop: dict[str, Any] = {"effect_size": None, "absolute": None, "relative": None}
    if counts["treatment"] >= 2 and counts["control"] >= 2:
        h = sizing.detectable(counts)
        if math.isfinite(h):
            absolute = (_h_to_rate(base.mean, h) - base.mean) if base.binary else h * base.sd
            mde_pop = {"effect_size": h, "absolute": absolute, "relative": absolute / base.mean if base.mean else None}
    return mde_pop


def _underpowered(sizing: _Sizing, counts: dict, required: dict, mde_pop: dict, mde_abs: float, unit: str) -> str:
    """The warning of a population too small to detect the MDE, with the smallest effect it can detect."""
    smallest = (
        "unknown (population too small)"
        if mde_pop["absolute"] is None
        else f"{mde_pop['absolute']:.4g} {unit}"
        + (f" ({mde_pop['relative']:+.1%} of baseline)" if mde_pop["relative"] is not None else "")
    )
    return (
        f"UNDERPOWERED: the eligible population ({counts['treatment'] + counts['control']} customers: "
        f"{counts['treatment']} treatment / {counts['control']} control) cannot detect an effect "
        f"of {mde_abs:.4g} {unit} with power {sizing.power:g} at alpha {sizing.alpha:g}; that needs "
        f"{required['treatment']} treatment / {required['control']} control. The smallest "
        f"detectable effect here is {smallest}."
    )


def _sequential_record(sizing: _Sizing, required: dict, fixed_required: dict) -> dict[str, Any]:
    """The plan's "sequential" entry: the tuning total, the interval's multiplier and the fixed-horizon sizes."""
    return {
        "tuning": required["treatment"] + required["control"] if sizing.interval == "sequential" else None,
        "multiplier": sizing.seq_c,
        "fixed_horizon_n_per_arm_required": fixed_required,
        "note": "always-valid interval (gbstats' confidence sequence) tuned to the planned total; it is "
        f"{sizing.seq_c:.3f} standard errors wide at that total against "
        f"{float(stats.norm.ppf(1 - sizing.alpha / 2)):.3f} for the fixed-horizon interval",
    }


def _method(sizing: _Sizing, binary: bool, treatment_share: float) -> str:
    """The plan's "method": how the sample size was found and the customers assigned."""
    return (
        f"Eligible customers: the rule. Sample size from statsmodels "
        f"{type(sizing.engine).__name__}.solve_power on {sizing.effect_name} "
        f"({'2 asin sqrt(p1) - 2 asin sqrt(p0)' if binary else 'MDE / baseline sd'}), two-sided, "
        f"treatment:control = {treatment_share:g}:{1 - treatment_share:g}. Assignment: "
        "sha256(salt + ':' + customer id) mapped to [0, 1); within each current segment customers "
        "are ordered by that hash and allocated systematically from a hashed start, so each segment "
        "is split to within one customer of the treatment share; the same customers and salt always "
        "give the same arms, whatever the row order."
        + (
            f" Sequential: n per arm = (c + z_power)^2 (1 + 1/ratio) / effect^2 with c = {sizing.seq_c:.4f}, the "
            "always-valid interval's half-width in standard errors at the planned total (normal approximation)."
            if sizing.interval == "sequential"
            else ""
        )
    )


def plan_experiment(
    customers: pd.DataFrame,
    *,
    rule: str,
    customer_id: str,
    segment: str,
    metric: str,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    salt: str,
    treatment_share: float = 0.5,
    mde_relative: bool = False,
    proposal: str | None = None,
    interval: str = "fixed",
) -> tuple[pd.DataFrame, dict]:
    """Plan an A/B test of a proposal over the customers its rule selects.

    ``mde`` is the smallest effect worth detecting on ``metric``: absolute (rate points as a fraction for
    a binary metric, metric units for a continuous one), or relative to the baseline when
    ``mde_relative``. ``interval`` "sequential" sizes the test for always-valid intervals read any day
    (refine.experiment.sequential, tuned to the planned total): the power is the chance that the interval
    at the planned sample size excludes zero. Returns the assignment frame (customer id, segment, arm) and the plan.
    """
    if interval not in ("fixed", "sequential"):
        raise RefineError(f"unknown interval {interval!r} (use fixed or sequential)")
    _require_columns(customers, [customer_id, segment, metric], "customer table")
    _check_settings(alpha=alpha, power=power, treatment_share=treatment_share, mde=mde, salt=salt)
    warnings: list[str] = []
    eligible, ids = _eligible(customers, rule, customer_id, warnings)
    base = _baseline(eligible[metric], metric, warnings)
    mde_abs = float(mde) * base.mean if mde_relative else float(mde)
    if mde_relative and base.mean == 0:
        raise RefineError("a relative MDE needs a non-zero baseline")
    ratio = (1 - treatment_share) / treatment_share  # control units per treatment unit
    sizing = _sizing(base, mde_abs, metric, alpha=alpha, power=power, interval=interval)
    required, fixed_required = sizing.required(ratio)
    assignments, counts, per_segment = _assign(
        ids, eligible[segment], customer_id=customer_id, segment=segment, salt=salt, share=treatment_share
    )
    # arms are drawn on the id's label (edge spaces trimmed); the file holds the id cell exactly as read
    raw = eligible[customer_id]
    assignments[customer_id] = np.where(
        raw.map(lambda v: isinstance(v, str)).to_numpy(), raw.to_numpy(), ids.to_numpy()
    )
    mde_pop = _mde_at_population(sizing, base, counts)
    feasible = counts["treatment"] >= required["treatment"] and counts["control"] >= required["control"]
    if not feasible:
        unit = "rate points" if base.binary else f"{metric} units"
        warnings.insert(0, _underpowered(sizing, counts, required, mde_pop, mde_abs, unit))
    plan = {
        "proposal": proposal,
        "rule": rule,
        "metric": metric,
        "metric_type": "binary" if base.binary else "continuous",
        "baseline": {"mean": base.mean, "sd": base.sd, "n": base.n, "missing": base.missing},
        "mde": float(mde),
        "mde_relative": bool(mde_relative),
        "mde_absolute": mde_abs,
        "effect_size": sizing.effect,
        "effect_size_kind": sizing.effect_name,
        "alpha": alpha,
        "power": power,
        "treatment_share": treatment_share,
        "n_per_arm_required": required,
        "n_total_required": required["treatment"] + required["control"],
        "eligible": int(len(assignments)),
        "arms": counts,
        "segments": per_segment,
        "mde_at_population": mde_pop,
        "feasible": bool(feasible),
        "warnings": warnings,
        "salt": salt,
        "interval": interval,
        "sequential": _sequential_record(sizing, required, fixed_required),
        "method": _method(sizing, base.binary, treatment_share),
    }
    return assignments, _finite(plan)
