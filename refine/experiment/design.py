"""Designing an A/B test: power and sample size (fixed horizon or sequential), deterministic hash assignment."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from refine.errors import RefineError
from refine.experiment import sequential
from refine.experiment._common import ARMS, _finite, _label, _numeric, _require_columns, is_binary


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
    from statsmodels.stats.power import NormalIndPower, TTestIndPower

    from refine.segments.rules import apply_rule

    _require_columns(customers, [customer_id, segment, metric], "customer table")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise RefineError("alpha and power must be between 0 and 1")
    if not 0 < treatment_share < 1:
        raise RefineError("treatment share must be strictly between 0 and 1")
    if not isinstance(mde, (int, float)) or not math.isfinite(mde) or mde == 0:
        raise RefineError("the minimum detectable effect must be a non-zero number")
    if not salt:
        raise RefineError("a salt is required (defaults to the proposal id)")
    warnings: list[str] = []
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

    values = _numeric(eligible[metric], metric)
    missing_metric = int(values.isna().sum())
    observed = values.dropna()
    if observed.empty:
        raise RefineError(f"metric {metric!r} has no values among the eligible customers")
    if missing_metric:
        warnings.append(
            f"{missing_metric} eligible customers have no {metric!r} value; the baseline uses the "
            f"other {len(observed)}."
        )
    binary = is_binary(observed)
    base_mean = float(observed.mean())
    base_sd = float(observed.std(ddof=1)) if len(observed) > 1 else float("nan")
    mde_abs = float(mde) * base_mean if mde_relative else float(mde)
    if mde_relative and base_mean == 0:
        raise RefineError("a relative MDE needs a non-zero baseline")
    ratio = (1 - treatment_share) / treatment_share  # control units per treatment unit
    if binary:
        target = base_mean + mde_abs
        if not 0 < base_mean < 1:
            raise RefineError(
                f"baseline rate of {metric!r} among eligible customers is {base_mean:g}; "
                "a power analysis needs a rate strictly between 0 and 1"
            )
        if not 0 < target < 1:
            raise RefineError(f"baseline {base_mean:.4g} plus the MDE {mde_abs:.4g} leaves the 0-1 range")
        effect = abs(2 * math.asin(math.sqrt(target)) - 2 * math.asin(math.sqrt(base_mean)))
        engine, effect_name = NormalIndPower(), "Cohen's h"
    else:
        if not base_sd > 0:
            raise RefineError(f"metric {metric!r} does not vary among the eligible customers")
        effect = abs(mde_abs) / base_sd
        engine, effect_name = TTestIndPower(), "Cohen's d"
    n_t_req = float(
        engine.solve_power(
            effect_size=effect, nobs1=None, alpha=alpha, power=power, ratio=ratio, alternative="two-sided"
        )
    )
    fixed_required = {"treatment": int(math.ceil(n_t_req)), "control": int(math.ceil(n_t_req * ratio))}
    seq_c = sequential.planned_multiplier(alpha)
    z_power = float(stats.norm.ppf(power))
    if interval == "sequential":
        # the confidence sequence tuned to N = the planned total is seq_c standard errors wide at N, so the
        # effect must sit (seq_c + z_power) standard errors from zero: n_t = (seq_c + z)^2 (1 + 1/ratio) / effect^2
        n_t_req = (seq_c + z_power) ** 2 * (1 + 1 / ratio) / effect**2
    required = {"treatment": int(math.ceil(n_t_req)), "control": int(math.ceil(n_t_req * ratio))}

    arms = assign_arms(ids, eligible[segment], salt=salt, treatment_share=treatment_share)
    assignments = pd.DataFrame(
        {customer_id: ids.to_numpy(), segment: eligible[segment].to_numpy(), "arm": arms.to_numpy()}
    )
    counts = {a: int((assignments["arm"] == a).sum()) for a in ARMS}
    per_segment = {
        str(seg): {a: int((grp["arm"] == a).sum()) for a in ARMS}
        for seg, grp in assignments.groupby(_label(assignments[segment]).fillna("(missing)"), sort=True)
    }

    mde_pop: dict[str, Any] = {"effect_size": None, "absolute": None, "relative": None}
    if counts["treatment"] >= 2 and counts["control"] >= 2:
        try:
            h = float(
                engine.solve_power(
                    effect_size=None,
                    nobs1=counts["treatment"],
                    alpha=alpha,
                    power=power,
                    ratio=counts["control"] / counts["treatment"],
                    alternative="two-sided",
                )
            )
        except Exception:  # statsmodels' root finder gives up on tiny samples
            h = float("nan")
        if interval == "sequential":
            h = (seq_c + z_power) * math.sqrt(1 / counts["treatment"] + 1 / counts["control"])
        if math.isfinite(h):
            absolute = (_h_to_rate(base_mean, h) - base_mean) if binary else h * base_sd
            mde_pop = {"effect_size": h, "absolute": absolute, "relative": absolute / base_mean if base_mean else None}
    feasible = counts["treatment"] >= required["treatment"] and counts["control"] >= required["control"]
    unit = "rate points" if binary else f"{metric} units"
    if not feasible:
        smallest = (
            "unknown (population too small)"
            if mde_pop["absolute"] is None
            else f"{mde_pop['absolute']:.4g} {unit}"
            + (f" ({mde_pop['relative']:+.1%} of baseline)" if mde_pop["relative"] is not None else "")
        )
        warnings.insert(
            0,
            f"UNDERPOWERED: the eligible population ({len(assignments)} customers: "
            f"{counts['treatment']} treatment / {counts['control']} control) cannot detect an effect "
            f"of {mde_abs:.4g} {unit} with power {power:g} at alpha {alpha:g}; that needs "
            f"{required['treatment']} treatment / {required['control']} control. The smallest "
            f"detectable effect here is {smallest}.",
        )
    plan = {
        "proposal": proposal,
        "rule": rule,
        "metric": metric,
        "metric_type": "binary" if binary else "continuous",
        "baseline": {"mean": base_mean, "sd": base_sd, "n": int(len(observed)), "missing": missing_metric},
        "mde": float(mde),
        "mde_relative": bool(mde_relative),
        "mde_absolute": mde_abs,
        "effect_size": effect,
        "effect_size_kind": effect_name,
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
        "sequential": {
            "tuning": required["treatment"] + required["control"] if interval == "sequential" else None,
            "multiplier": seq_c,
            "fixed_horizon_n_per_arm_required": fixed_required,
            "note": "always-valid interval (gbstats' confidence sequence) tuned to the planned total; it is "
            f"{seq_c:.3f} standard errors wide at that total against {float(stats.norm.ppf(1 - alpha / 2)):.3f} "
            "for the fixed-horizon interval",
        },
        "method": (
            f"Eligible customers: the rule. Sample size from statsmodels "
            f"{type(engine).__name__}.solve_power on {effect_name} "
            f"({'2 asin sqrt(p1) - 2 asin sqrt(p0)' if binary else 'MDE / baseline sd'}), two-sided, "
            f"treatment:control = {treatment_share:g}:{1 - treatment_share:g}. Assignment: "
            "sha256(salt + ':' + customer id) mapped to [0, 1); within each current segment customers "
            "are ordered by that hash and allocated systematically from a hashed start, so each segment "
            "is split to within one customer of the treatment share; the same customers and salt always "
            "give the same arms, whatever the row order."
            + (
                f" Sequential: n per arm = (c + z_power)^2 (1 + 1/ratio) / effect^2 with c = {seq_c:.4f}, the "
                "always-valid interval's half-width in standard errors at the planned total (normal approximation)."
                if interval == "sequential"
                else ""
            )
        ),
    }
    return assignments, _finite(plan)
