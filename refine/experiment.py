"""A/B tests for proposals: plan one (power, deterministic stratified assignment), then analyze it.

Planning
    ``plan_experiment`` takes the customers a proposal's rule selects, sizes the test with statsmodels
    (NormalIndPower on Cohen's h for a binary metric, TTestIndPower on Cohen's d for a continuous one),
    says the smallest effect the available population can detect, and assigns every eligible customer
    to an arm by a salted SHA-256 hash, balanced within each current segment.

Analysis (what GrowthBook / Statsig report, computed in the open)
    ``analyze_experiment`` cleans the data by a stated policy (every excluded row counted), checks the
    sample ratio (chi-square), then per metric x treatment arm x segment reports n, means, absolute and
    relative lift with confidence intervals and a p-value:

    * binary metric (values in {0, 1}): absolute-lift CI by the normal approximation with the unpooled
      standard error; p-value from the pooled two-proportion z-test (as statsmodels proportions_ztest);
    * continuous metric: Welch's t-test (as scipy ttest_ind(equal_var=False)), CI with the
      Welch-Satterthwaite degrees of freedom;
    * relative lift (treatment / control - 1): delta-method standard error, normal CI;
    * CUPED when a pre-period covariate X is given: theta = cov(Y, X) / var(X) pooled over all arms,
      Y_adj = Y - theta (X - mean X), Welch's test on Y_adj; variance reduction = 1 - var(Y_adj)/var(Y);
    * p-values of the (primary and secondary) metrics x arms x (all units + each segment) are corrected
      together, Benjamini-Hochberg by default or Holm; guardrails are judged uncorrected (a harm signal
      is not diluted by the number of comparisons);
    * a decision (ship / keep testing / stop) with its reasons.

``write_ab_report`` writes ab_report.json, ab_report.md and a self-contained ab_report.html with a
forest plot of the relative lifts (inline SVG). Reports never show unit identifiers.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from refine.errors import RefineError

ARMS = ("control", "treatment")
_ALL = None  # the segment key of the all-units cell

DATA_QUALITY_POLICY = [
    "Rows with no unit id or no arm are excluded (counted).",
    "Rows that contradict a --consistency check (e.g. group says treatment but landing_page says old_page) "
    "are excluded row by row (counted), before anything else is judged on the remaining rows.",
    "A unit whose remaining rows sit in more than one arm is excluded entirely (its rows counted).",
    "Further rows of a unit in the same arm are duplicates: the first row in input order is kept, "
    "the rest excluded (counted).",
    "A unit with no value for a metric is left out of that metric only (counted per metric).",
    "A unit with no value for a CUPED covariate keeps its metric value unadjusted (covariate set to its mean; "
    "counted per metric).",
]


# ---- small helpers --------------------------------------------------------------------------


def _label(series: pd.Series) -> pd.Series:
    """Values as text labels: 1.0 -> "1", True -> "True", missing stays missing (None)."""
    present = series.notna().to_numpy()
    values = series.to_numpy(dtype=object)
    if pd.api.types.is_float_dtype(series) and present.any():
        numbers = series.to_numpy(dtype=float)[present]
        if np.all(np.mod(numbers, 1) == 0):
            values = values.copy()
            values[present] = numbers.astype("int64")
    out = np.array([str(v).strip() if p else None for v, p in zip(values, present)], dtype=object)
    return pd.Series(out, index=series.index, dtype="object")


def _numeric(series: pd.Series, name: str, what: str = "metric") -> pd.Series:
    """A metric column as float; a value that is not a number is a one-line error."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    if pd.api.types.is_numeric_dtype(series):
        values = series.astype(float)
    else:
        values = pd.to_numeric(
            series.map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v), errors="coerce"
        ).astype(float)
        bad = series.notna() & values.isna()
        if bad.any():
            example = str(series[bad].iloc[0])[:40]
            raise RefineError(f"{what} column {name!r} is not numeric (e.g. {example!r})")
    if np.isinf(values.to_numpy()).any():
        raise RefineError(f"{what} column {name!r} holds infinite values")
    return values


def is_binary(values: pd.Series | np.ndarray) -> bool:
    """True when every non-missing value is 0 or 1 (booleans count)."""
    arr = np.asarray(pd.Series(values).dropna().astype(float))
    return len(arr) > 0 and bool(np.isin(arr, (0.0, 1.0)).all())


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    for column in columns:
        if column not in frame.columns:
            shown = ", ".join(map(str, list(frame.columns)[:12]))
            raise RefineError(f"column {column!r} not found in the {where} (columns: {shown})")


def _z(level: float) -> float:
    return float(stats.norm.ppf(1 - (1 - level) / 2))


def _finite(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# ---- core statistics (vectorised: scalars or arrays of many simulated tests) -----------------


def two_proportion(x_t, n_t, x_c, n_c, level: float = 0.95) -> dict[str, np.ndarray]:
    """Two-proportion comparison: unpooled normal CI for the difference, pooled z-test p-value,
    delta-method CI for the relative lift p_t / p_c - 1."""
    x_t, n_t, x_c, n_c = (np.asarray(v, dtype=float) for v in (x_t, n_t, x_c, n_c))
    z = _z(level)
    p_t, p_c = x_t / n_t, x_c / n_c
    diff = p_t - p_c
    var_t, var_c = p_t * (1 - p_t) / n_t, p_c * (1 - p_c) / n_c
    se = np.sqrt(var_t + var_c)
    pooled = (x_t + x_c) / (n_t + n_c)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(se0 > 0, diff / np.where(se0 > 0, se0, 1), 0.0)
        p = np.where(se0 > 0, 2 * stats.norm.sf(np.abs(stat)), 1.0)
        rel, rel_se = _relative(p_t, var_t, p_c, var_c)
    return {
        "mean_t": p_t,
        "mean_c": p_c,
        "diff": diff,
        "se": se,
        "lo": diff - z * se,
        "hi": diff + z * se,
        "stat": stat,
        "p": p,
        "rel": rel,
        "rel_se": rel_se,
        "rel_lo": rel - z * rel_se,
        "rel_hi": rel + z * rel_se,
        "df": np.full_like(diff, np.nan),
    }


def welch(mean_t, var_t, n_t, mean_c, var_c, n_c, level: float = 0.95) -> dict[str, np.ndarray]:
    """Welch's t-test from summary statistics (variances with ddof=1); CI on the Welch-Satterthwaite
    degrees of freedom; delta-method normal CI for the relative lift mean_t / mean_c - 1."""
    mean_t, var_t, n_t, mean_c, var_c, n_c = (
        np.asarray(v, dtype=float) for v in (mean_t, var_t, n_t, mean_c, var_c, n_c)
    )
    a, b = var_t / n_t, var_c / n_c
    se = np.sqrt(a + b)
    diff = mean_t - mean_c
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (a + b) ** 2 / (a**2 / (n_t - 1) + b**2 / (n_c - 1))
        stat = diff / se
        p = 2 * stats.t.sf(np.abs(stat), df)
        # no variance in either arm: identical means differ by nothing, different ones are certain
        p = np.where(se > 0, p, np.where(diff == 0, 1.0, 0.0))
        stat = np.where(se > 0, stat, 0.0)
        crit = np.where(se > 0, stats.t.ppf(1 - (1 - level) / 2, df), 0.0)
        rel, rel_se = _relative(mean_t, a, mean_c, b)
    z = _z(level)
    return {
        "mean_t": mean_t,
        "mean_c": mean_c,
        "diff": diff,
        "se": se,
        "lo": diff - crit * se,
        "hi": diff + crit * se,
        "stat": stat,
        "p": p,
        "rel": rel,
        "rel_se": rel_se,
        "rel_lo": rel - z * rel_se,
        "rel_hi": rel + z * rel_se,
        "df": df,
    }


def _relative(m_t, v_t, m_c, v_c):
    """Delta method for m_t / m_c - 1 with independent arms; v_* are variances of the means."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = m_c != 0
        rel = np.where(ok, m_t / np.where(ok, m_c, 1) - 1, np.nan)
        rel_se = np.where(
            ok, np.sqrt(v_t / np.where(ok, m_c, 1) ** 2 + m_t**2 * v_c / np.where(ok, m_c, 1) ** 4), np.nan
        )
    return rel, rel_se


def cuped_adjust(y: np.ndarray, x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """CUPED: theta = cov(Y, X) / var(X) over the units given (all arms pooled),
    Y_adj = Y - theta (X - mean X). Returns (Y_adj, theta); works along ``axis`` for simulations."""
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    xc = x - x.mean(axis=axis, keepdims=True)
    yc = y - y.mean(axis=axis, keepdims=True)
    var_x = (xc**2).sum(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(var_x > 0, (xc * yc).sum(axis=axis, keepdims=True) / np.where(var_x > 0, var_x, 1), 0.0)
    return y - theta * xc, np.squeeze(theta, axis=axis)


def adjust_pvalues(pvalues: Sequence[float], method: str = "bh") -> np.ndarray:
    """Benjamini-Hochberg ("bh") or Holm ("holm") adjusted p-values."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="mergesort")
    ranked = p[order]
    if method == "bh":
        adj = ranked * m / np.arange(1, m + 1)
        adj = np.minimum.accumulate(adj[::-1])[::-1]
    elif method == "holm":
        adj = np.maximum.accumulate(ranked * (m - np.arange(m)))
    else:
        raise RefineError(f"unknown correction {method!r} (use bh or holm)")
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def srm_check(counts: Sequence[int], shares: Sequence[float], threshold: float = 0.001) -> dict:
    """Sample-ratio mismatch: chi-square goodness of fit of the arm counts to the expected shares."""
    observed = np.asarray(counts, dtype=float)
    shares = np.asarray(shares, dtype=float) / np.sum(shares)
    expected = shares * observed.sum()
    chi2, p = stats.chisquare(observed, expected)
    return {
        "chi2": float(chi2),
        "p_value": float(p),
        "mismatch": bool(p < threshold),
        "threshold": threshold,
        "expected": [float(e) for e in expected],
    }


# ---- planning ---------------------------------------------------------------------------------


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
) -> tuple[pd.DataFrame, dict]:
    """Plan an A/B test of a proposal over the customers its rule selects.

    ``mde`` is the smallest effect worth detecting on ``metric``: absolute (rate points as a fraction for
    a binary metric, metric units for a continuous one), or relative to the baseline when
    ``mde_relative``. Returns the assignment frame (customer id, segment, arm) and the plan.
    """
    from statsmodels.stats.power import NormalIndPower, TTestIndPower

    from refine.rules import apply_rule

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
        "method": (
            f"Eligible customers: the rule. Sample size from statsmodels "
            f"{type(engine).__name__}.solve_power on {effect_name} "
            f"({'2 asin sqrt(p1) - 2 asin sqrt(p0)' if binary else 'MDE / baseline sd'}), two-sided, "
            f"treatment:control = {treatment_share:g}:{1 - treatment_share:g}. Assignment: "
            "sha256(salt + ':' + customer id) mapped to [0, 1); within each current segment customers "
            "are ordered by that hash and allocated systematically from a hashed start, so each segment "
            "is split to within one customer of the treatment share; the same customers and salt always "
            "give the same arms, whatever the row order."
        ),
    }
    return assignments, _finite(plan)


# ---- analysis: loading and data quality ------------------------------------------------------


@dataclass(frozen=True)
class ConsistencyCheck:
    """Rows where ``column`` holds a key of ``expected`` must hold the mapped value in ``other``."""

    column: str
    other: str
    expected: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        pairs = ",".join(f"{k}:{v}" for k, v in self.expected.items())
        return f"{self.column}:{self.other}={pairs}"


def parse_consistency(spec: str | tuple[str, str] | ConsistencyCheck) -> ConsistencyCheck:
    """``COL:OTHER=a1:b1,a2:b2`` (or the tuple ("COL:OTHER", "a1:b1,a2:b2")): a row whose COL is a1 must
    have OTHER == b1, and so on; values compared as text."""
    if isinstance(spec, ConsistencyCheck):
        return spec
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2:
            raise RefineError(f'consistency check {spec!r} must be a ("COL:OTHER", "a:b,c:d") pair')
        spec = f"{spec[0]}={spec[1]}"
    text = str(spec)
    usage = "write it as COL:OTHER=value:expected,value:expected (e.g. group:landing_page=control:old_page,treatment:new_page)"
    if "=" not in text:
        raise RefineError(f"consistency check {text!r} has no '='; {usage}")
    left, right = text.split("=", 1)
    columns = left.split(":")
    if len(columns) != 2 or not all(c.strip() for c in columns):
        raise RefineError(f"consistency check {text!r} must name two columns before '='; {usage}")
    expected: dict[str, str] = {}
    for pair in right.split(","):
        if pair.count(":") < 1 or not pair.split(":", 1)[0].strip():
            raise RefineError(f"consistency check {text!r}: {pair!r} is not value:expected; {usage}")
        key, value = pair.split(":", 1)
        expected[key.strip()] = value.strip()
    return ConsistencyCheck(columns[0].strip(), columns[1].strip(), expected)


def read_table(path: str | Path, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise RefineError("file not found", where=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson"):
            frame = pd.read_json(path, lines=True, dtype=False)
        elif suffix == ".json":
            frame = pd.read_json(path, dtype=False)
        else:
            sep = "\t" if suffix in (".tsv", ".tab") else ","
            header = pd.read_csv(path, sep=sep, nrows=0).columns
            frame = pd.read_csv(
                path, sep=sep, dtype={c: str for c in text_columns if c in header}, keep_default_na=True
            )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise RefineError(f"cannot read the table ({str(exc).splitlines()[0][:160]})", where=str(path)) from None
    for column in text_columns:
        if column in frame.columns:
            frame[column] = _label(frame[column])
    return frame


def load_experiment_data(data_path: str | Path, outcomes_path: str | Path | None, unit: str) -> pd.DataFrame:
    """One table, or an assignment table left-joined with an outcomes table on ``unit``.

    Units keep their text form (leading zeros survive). An outcomes table must hold one row per unit:
    exact duplicate rows are dropped (counted), conflicting duplicates are an error. Outcome rows whose
    unit was never assigned are ignored (counted). Counts travel in ``frame.attrs["refine_load"]``.
    """
    data = read_table(data_path, [unit])
    _require_columns(data, [unit], f"data file {Path(data_path).name}")
    load = {"data_rows": int(len(data))}
    if outcomes_path is not None:
        outcomes = read_table(outcomes_path, [unit])
        _require_columns(outcomes, [unit], f"outcomes file {Path(outcomes_path).name}")
        shared = [c for c in outcomes.columns if c in data.columns and c != unit]
        if shared:
            raise RefineError(f"column {shared[0]!r} is in both the data and the outcomes table; rename one")
        exact = outcomes.duplicated(keep="first")
        outcomes = outcomes[~exact]
        conflicting = outcomes[unit].notna() & outcomes[unit].duplicated(keep=False)
        if conflicting.any():
            raise RefineError(
                f"the outcomes table holds {int(outcomes.loc[conflicting, unit].nunique())} units with "
                "different outcome rows; one row per unit is needed"
            )
        outcomes = outcomes[outcomes[unit].notna()]
        unassigned = ~outcomes[unit].isin(set(data[unit].dropna()))
        load.update(
            {
                "outcome_rows": int(len(outcomes) + exact.sum()),
                "outcome_exact_duplicates": int(exact.sum()),
                "outcome_rows_without_assignment": int(unassigned.sum()),
            }
        )
        data = data.merge(outcomes[~unassigned], on=unit, how="left", validate="many_to_one")
    data.attrs["refine_load"] = load
    return data


def _normalise_covariates(covariates, metrics: list[str], analysed: list[str]) -> dict[str, str]:
    if covariates is None:
        return {}
    if isinstance(covariates, dict):
        pairs = dict(covariates)
    else:
        items = [c.strip() for c in covariates]
        explicit = [":" in c for c in items]
        if any(explicit) and not all(explicit):
            raise RefineError(
                "covariates: use either positional names (pre_a,pre_b) or metric:covariate pairs, not both"
            )
        if all(explicit) and items:
            pairs = dict(c.split(":", 1) for c in items)
        else:
            if len(items) > len(metrics):
                raise RefineError(
                    f"{len(items)} covariates for {len(metrics)} metrics; pair them by position "
                    "or write metric:covariate"
                )
            pairs = {m: c for m, c in zip(metrics, items) if c and c != "-"}
    pairs = {k.strip(): v.strip() for k, v in pairs.items()}
    for metric, covariate in pairs.items():
        if metric not in analysed:
            raise RefineError(f"covariate given for {metric!r}, which is not among the metrics or guardrails")
        if covariate in analysed:
            # CUPED needs a pre-period measurement; an outcome of this test would explain itself away
            raise RefineError(
                f"covariate {covariate!r} for {metric!r} is itself a metric or guardrail of this test; "
                "use a column measured before the test started"
            )
    return pairs


def _clean(data: pd.DataFrame, unit: str, arm: str, checks: list[ConsistencyCheck]) -> tuple[pd.DataFrame, dict]:
    """Apply the data-quality policy; return the accepted rows (one per unit) and every count."""
    n_input = len(data)
    work = data.copy(deep=False)
    work["__arm__"] = _label(work[arm])
    work["__unit__"] = _label(work[unit])
    excluded = {"missing_unit_or_arm": 0, "contradicting": 0, "unit_in_both_arms": 0, "duplicate_rows": 0}
    missing = work["__unit__"].isna() | work["__arm__"].isna()
    excluded["missing_unit_or_arm"] = int(missing.sum())
    work = work[~missing]
    arms_raw = work.groupby("__unit__")["__arm__"].nunique()
    both_raw = int((arms_raw > 1).sum())
    repeated_raw = int((work["__unit__"].value_counts() > 1).sum())

    consistency = []
    bad_any = pd.Series(False, index=work.index)
    for check in checks:
        a, b = _label(work[check.column]), _label(work[check.other])
        known = a.isin(list(check.expected))
        want = a.map(check.expected)
        bad = known & (b.isna() | (b != want))
        by_value = {f"{k} with {check.other} != {v}": int((bad & (a == k)).sum()) for k, v in check.expected.items()}
        consistency.append(
            {
                "check": check.text,
                "contradicting_rows": int(bad.sum()),
                "by_value": by_value,
                "rows_not_covered": int((~known).sum()),
            }
        )
        bad_any |= bad.fillna(False).astype(bool)
    excluded["contradicting"] = int(bad_any.sum())
    work = work[~bad_any]

    arms_per_unit = work.groupby("__unit__")["__arm__"].nunique()
    both_units = set(arms_per_unit.index[arms_per_unit > 1])
    in_both = work["__unit__"].isin(both_units)
    excluded["unit_in_both_arms"] = int(in_both.sum())
    work = work[~in_both]

    dup = work["__unit__"].duplicated(keep="first")
    duplicate_units = int(work.loc[dup, "__unit__"].nunique())
    excluded["duplicate_rows"] = int(dup.sum())
    work = work[~dup]
    accepted = len(work)
    quality = {
        "policy": DATA_QUALITY_POLICY,
        "input_rows": int(n_input),
        "accepted_units": int(accepted),
        "excluded_rows": excluded,
        "excluded_total": int(sum(excluded.values())),
        "accounted": bool(accepted + sum(excluded.values()) == n_input),
        "units_with_several_rows_in_input": repeated_raw,
        "units_in_both_arms": len(both_units),
        "units_in_both_arms_before_consistency": both_raw,
        "duplicate_units": duplicate_units,
        "consistency": consistency,
    }
    return work, quality


# ---- analysis ------------------------------------------------------------------------------


def _cell(
    y: np.ndarray,
    arm_mask: np.ndarray,
    control_mask: np.ndarray,
    *,
    binary: bool,
    adjusted: np.ndarray | None,
    level: float,
) -> dict:
    y_t, y_c = y[arm_mask], y[control_mask]
    n_t, n_c = len(y_t), len(y_c)
    cell: dict[str, Any] = {
        "n_control": n_c,
        "n_treatment": n_t,
        "mean_control": float(y_c.mean()) if n_c else None,
        "mean_treatment": float(y_t.mean()) if n_t else None,
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
        res = two_proportion(y_t.sum(), n_t, y_c.sum(), n_c, level)
        cell["method"] = "two-proportion z-test (pooled); unpooled normal CI"
    else:
        res = welch(y_t.mean(), y_t.var(ddof=1), n_t, y_c.mean(), y_c.var(ddof=1), n_c, level)
        cell["method"] = "Welch t-test"
    cell.update(
        {
            "abs_lift": float(res["diff"]),
            "abs_ci": [float(res["lo"]), float(res["hi"])],
            "se": float(res["se"]),
            "rel_lift": float(res["rel"]),
            "rel_ci": [float(res["rel_lo"]), float(res["rel_hi"])],
            "statistic": float(res["stat"]),
            "df": float(res["df"]),
            "p_value": float(res["p"]),
        }
    )
    return cell


def _fmt(value: float | None, binary: bool = False, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if binary:
        return f"{value * 100:+.2f} pp" if signed else f"{value * 100:.2f}%"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value * 100:+.2f}%"


def _plain(result: dict, binary: bool) -> str:
    if result.get("p_value") is None:
        return f"{result['metric']}: not enough data to compare."
    lo, hi = result["abs_ci"]

    def amount(v: float) -> str:
        return f"{abs(v) * 100:.2f} points" if binary else f"{abs(v):.4g}"

    def side(v: float) -> str:
        return f"{amount(v)} {'higher' if v >= 0 else 'lower'}"

    name = f"{result['metric']} ({result['arm']} vs control)"
    return f"{name}: between {side(lo)} and {side(hi)} ({int(round(result['ci_level'] * 100))}% CI)."


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
) -> dict:
    """Analyze an A/B test: one row per unit (after cleaning), metrics as numeric columns.

    ``expected_split`` is the expected share of units in the treatment arm(s), shared equally when there
    are several. ``covariates`` pairs metrics with pre-period columns for CUPED: a dict, a list
    positional with ``metrics`` ("-" skips one), or a list of "metric:covariate" strings.
    """
    metrics = [m for m in (metrics or []) if m]
    guardrails = [g for g in (guardrails or []) if g]
    lower_is_better = list(lower_is_better or [])
    if not metrics:
        raise RefineError("at least one metric is needed")
    if len(set(metrics)) != len(metrics):
        raise RefineError("a metric is listed twice")
    if correction not in ("bh", "holm"):
        raise RefineError(f"unknown correction {correction!r} (use bh or holm)")
    if not 0 < alpha < 1:
        raise RefineError("alpha must be between 0 and 1")
    if not 0 < expected_split < 1:
        raise RefineError("the expected split must be strictly between 0 and 1")
    analysed = metrics + [g for g in guardrails if g not in metrics]
    for name in lower_is_better:
        if name not in analysed:
            raise RefineError(f"--lower-is-better names {name!r}, which is not among the metrics or guardrails")
    cov = _normalise_covariates(covariates, metrics, analysed)
    checks = [parse_consistency(c) for c in (consistency or [])]
    needed = [unit, arm, *analysed, *cov.values(), *([segment] if segment else [])]
    for check in checks:
        needed += [check.column, check.other]
    _require_columns(data, dict.fromkeys(needed), "data")
    control = str(control).strip()
    arm_labels = _label(data[arm])
    seen = sorted(set(arm_labels.dropna()))
    if control not in seen:
        raise RefineError(f"control value {control!r} is not in column {arm!r} (values: {', '.join(seen[:10])})")
    treatments = [a for a in seen if a != control]
    if not treatments:
        raise RefineError(f"column {arm!r} holds only the control arm {control!r}; there is no treatment arm")
    level = 1 - alpha

    load = dict(data.attrs.get("refine_load", {}))
    accepted, quality = _clean(data[list(dict.fromkeys(needed))], unit, arm, checks)
    quality["input"] = load
    arm_values = accepted["__arm__"].to_numpy()
    counts = {a: int((arm_values == a).sum()) for a in [control, *treatments]}
    empty = [a for a, n in counts.items() if n == 0]
    if empty:
        raise RefineError(f"arm {empty[0]!r} has no units left after the data-quality checks")

    shares = [1 - expected_split] + [expected_split / len(treatments)] * len(treatments)
    srm = srm_check(list(counts.values()), shares, srm_threshold)
    srm.update({"arms": list(counts), "observed": list(counts.values()), "expected_shares": shares})
    warnings: list[str] = []
    by_folded: dict[str, list[str]] = {}
    for label in counts:
        by_folded.setdefault(label.casefold(), []).append(label)
    for spellings in (v for v in by_folded.values() if len(v) > 1):
        warnings.append(
            f"arms {', '.join(repr(a) for a in spellings)} differ only in letter case and are analysed "
            f"as separate arms; if they are one arm, fix the spelling in column {arm!r}"
        )
    if srm["mismatch"]:
        srm["warning"] = (
            f"SAMPLE RATIO MISMATCH: arm counts {counts} differ from the expected split "
            f"(chi-square p = {srm['p_value']:.2g} < {srm_threshold:g}). Assignment or logging is "
            "broken; do not trust the effects until the cause is found."
        )
        warnings.append(srm["warning"])

    seg_labels = _label(accepted[segment]).fillna("(missing)") if segment else None
    segments = sorted(set(seg_labels)) if segment else []
    results: list[dict] = []
    quality["missing_outcome"], quality["missing_covariate_filled"], quality["metric_units"] = {}, {}, {}
    metric_info: dict[str, dict] = {}
    for metric in analysed:
        y_all = _numeric(accepted[metric], metric)
        present = y_all.notna().to_numpy()
        quality["missing_outcome"][metric] = int((~present).sum())
        quality["metric_units"][metric] = int(present.sum())
        y = y_all.to_numpy()[present]
        binary = is_binary(y)
        arms_m = arm_values[present]
        info = {
            "type": "binary" if binary else "continuous",
            "units": int(present.sum()),
            "lower_is_better": metric in lower_is_better,
            "role": "primary" if metric == metrics[0] else ("secondary" if metric in metrics else "guardrail"),
            "guardrail": metric in guardrails,
        }
        adjusted = None
        if metric in cov:
            x_all = _numeric(accepted[cov[metric]], cov[metric], "covariate")
            x = x_all.to_numpy()[present]
            miss_x = np.isnan(x)
            quality["missing_covariate_filled"][metric] = int(miss_x.sum())
            if miss_x.all():
                raise RefineError(f"covariate {cov[metric]!r} has no values for the units with {metric!r}")
            x = np.where(miss_x, np.nanmean(x), x)
            adjusted, theta = cuped_adjust(y, x)
            var_y = y.var(ddof=1) if len(y) > 1 else float("nan")
            info["cuped"] = {
                "covariate": cov[metric],
                "theta": float(theta),
                "variance_reduction": float(1 - adjusted.var(ddof=1) / var_y) if var_y > 0 else None,
                "covariate_missing_filled": int(miss_x.sum()),
            }
        metric_info[metric] = info
        seg_m = seg_labels.to_numpy()[present] if segment else None
        for treatment in treatments:
            for seg in [_ALL, *segments]:
                inside = np.ones(len(y), bool) if seg is _ALL else (seg_m == seg)
                cell = _cell(
                    y,
                    inside & (arms_m == treatment),
                    inside & (arms_m == control),
                    binary=binary,
                    adjusted=adjusted,
                    level=level,
                )
                cell.update(
                    {
                        "metric": metric,
                        "arm": treatment,
                        "segment": seg,
                        "role": info["role"],
                        "type": info["type"],
                        "ci_level": level,
                    }
                )
                results.append(cell)

    family = [r for r in results if r["metric"] in metrics and r.get("p_value") is not None]
    adjusted_p = adjust_pvalues([r["p_value"] for r in family], correction)
    for r, p in zip(family, adjusted_p):
        r["p_adjusted"] = float(p)
    for r in results:
        lower = metric_info[r["metric"]]["lower_is_better"]
        if r.get("p_value") is None:
            r.update({"p_adjusted": None, "significant": False, "direction": "unknown"})
            continue
        r.setdefault("p_adjusted", None)  # guardrail-only metrics are judged uncorrected
        p_judged = r["p_adjusted"] if r["p_adjusted"] is not None else r["p_value"]
        r["significant"] = bool(p_judged < alpha)
        better = r["abs_lift"] < 0 if lower else r["abs_lift"] > 0
        r["direction"] = ("better" if better else "worse") if r["abs_lift"] != 0 else "flat"
        if r["segment"] is _ALL:
            r["summary"] = _plain(r, metric_info[r["metric"]]["type"] == "binary")

    guardrail_rows = []
    for r in results:
        if r["segment"] is _ALL and metric_info[r["metric"]]["guardrail"]:
            harmed = r.get("p_value") is not None and r["p_value"] < alpha and r["direction"] == "worse"
            guardrail_rows.append(
                {
                    "metric": r["metric"],
                    "arm": r["arm"],
                    "harmed": bool(harmed),
                    "abs_lift": r.get("abs_lift"),
                    "abs_ci": r.get("abs_ci"),
                    "p_value": r.get("p_value"),
                    "lower_is_better": metric_info[r["metric"]]["lower_is_better"],
                }
            )
            if harmed:
                warnings.append(
                    f"GUARDRAIL HARMED: {r['metric']} is significantly worse in {r['arm']} (p = {r['p_value']:.3g})."
                )
    for metric, missing in quality["missing_outcome"].items():
        if missing and missing >= 0.05 * len(accepted):
            # the test is about the units measured; a large unmeasured share can bias it (who goes unmeasured?)
            warnings.append(
                f"{missing} of {len(accepted)} accepted units ({missing / len(accepted):.0%}) have no "
                f"{metric!r} value and are left out of its test; check why before trusting it"
            )
    decision = _decide(results, guardrail_rows, srm, metrics[0], treatments, correction, alpha, metric_info)
    report = {
        "kind": "refine A/B analysis",
        "version": 1,
        "settings": {
            "unit": unit,
            "arm": arm,
            "control": control,
            "treatments": treatments,
            "metrics": metrics,
            "primary": metrics[0],
            "guardrails": guardrails,
            "covariates": cov,
            "segment": segment,
            "lower_is_better": lower_is_better,
            "correction": correction,
            "alpha": alpha,
            "ci_level": level,
            "expected_split": expected_split,
            "srm_threshold": srm_threshold,
            "consistency": [c.text for c in checks],
        },
        "decision": decision,
        "warnings": warnings,
        "data_quality": quality,
        "srm": srm,
        "metrics": metric_info,
        "results": results,
        "guardrails": guardrail_rows,
        "correction": {
            "method": {"bh": "Benjamini-Hochberg", "holm": "Holm"}[correction],
            "tests": len(family),
            "family": "primary and secondary metrics x treatment arms x (all units + each segment); "
            "guardrail-only metrics judged on uncorrected p-values",
        },
        "method": _method_notes(level),
    }
    return _finite(report)


def _method_notes(level: float) -> list[str]:
    pct = f"{level * 100:g}%"
    return [
        f"Binary metrics (values 0/1): absolute lift = difference in rates, {pct} CI by the normal approximation "
        "with the unpooled standard error; p-value from the pooled two-proportion z-test.",
        f"Continuous metrics: Welch's t-test; {pct} CI with Welch-Satterthwaite degrees of freedom.",
        "Relative lift = treatment mean / control mean - 1, CI by the delta method (normal).",
        "CUPED (when a pre-period covariate is given): theta = cov(Y, X) / var(X) over all arms, "
        "Y_adj = Y - theta (X - mean X), Welch's t-test on Y_adj; variance reduction = 1 - var(Y_adj) / var(Y). "
        "Relative lift under CUPED uses the adjusted control mean.",
        "Sample-ratio mismatch: chi-square goodness of fit of accepted units per arm against the expected split.",
        "Confidence intervals are not adjusted for multiplicity; significance uses the corrected p-values.",
    ]


def _decide(results, guardrail_rows, srm, primary, treatments, correction, alpha, metric_info) -> dict:
    per_arm = {}
    for treatment in treatments:
        cell = next(r for r in results if r["metric"] == primary and r["arm"] == treatment and r["segment"] is _ALL)
        harmed = [g for g in guardrail_rows if g["arm"] == treatment and g["harmed"]]
        binary = metric_info[primary]["type"] == "binary"
        reasons = []
        if cell.get("p_value") is None:
            verdict = "keep testing"
            reasons.append(f"primary metric {primary}: {cell['skipped']}")
        else:
            lift = (
                f"{_fmt(cell['abs_lift'], binary, True)} [{_fmt(cell['abs_ci'][0], binary, True)}, "
                f"{_fmt(cell['abs_ci'][1], binary, True)}], p adjusted ({correction}) = {cell['p_adjusted']:.3g}"
            )
            good = cell["significant"] and cell["direction"] == "better"
            bad = cell["significant"] and cell["direction"] == "worse"
            if bad:
                reasons.append(f"primary metric {primary} is significantly worse: {lift}")
            for g in harmed:
                reasons.append(f"guardrail {g['metric']} is significantly harmed (p = {g['p_value']:.3g})")
            if bad or harmed:
                verdict = "stop"
            elif good and not srm["mismatch"]:
                verdict = "ship"
                reasons.append(f"primary metric {primary} is significantly better: {lift}")
                reasons.append("no guardrail is significantly harmed" if guardrail_rows else "no guardrails were given")
                reasons.append(f"no sample-ratio mismatch (p = {srm['p_value']:.3g})")
            else:
                verdict = "keep testing"
                if good:
                    reasons.append(
                        f"primary metric {primary} is significantly better ({lift}), but the sample "
                        f"ratio is off (p = {srm['p_value']:.2g}): fix assignment before shipping"
                    )
                else:
                    reasons.append(f"primary metric {primary} is not significant after correction: {lift}")
                    reasons.append(
                        f"the {int(round(cell['ci_level'] * 100))}% CI already rules out effects outside "
                        f"[{_fmt(cell['abs_ci'][0], binary, True)}, {_fmt(cell['abs_ci'][1], binary, True)}]"
                        "; if nothing in that range is worth shipping, stopping is reasonable"
                    )
        if srm["mismatch"] and verdict != "keep testing":
            reasons.append(f"warning: sample-ratio mismatch (p = {srm['p_value']:.2g})")
        per_arm[treatment] = {"decision": verdict, "reasons": reasons}
    if len(treatments) == 1:
        overall = dict(per_arm[treatments[0]])
    else:
        ship = [t for t in treatments if per_arm[t]["decision"] == "ship"]
        if ship:
            overall = {"decision": "ship", "reasons": [f"ship {', '.join(ship)}"]}
        elif all(per_arm[t]["decision"] == "stop" for t in treatments):
            overall = {"decision": "stop", "reasons": ["every treatment arm should stop"]}
        else:
            overall = {"decision": "keep testing", "reasons": ["no treatment arm is ready to ship"]}
        overall["reasons"] += [f"{t}: {per_arm[t]['decision']}" for t in treatments]
    overall["per_arm"] = per_arm
    return overall


# ---- report writing --------------------------------------------------------------------------


def _seg_name(seg: str | None) -> str:
    return "all units" if seg is None else str(seg)


def render_markdown(report: dict) -> str:
    s, q, srm = report["settings"], report["data_quality"], report["srm"]
    info = report["metrics"]

    def esc(text: Any) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["# A/B test analysis", "", f"**Decision: {report['decision']['decision'].upper()}**", ""]
    lines += [f"- {esc(r)}" for r in report["decision"]["reasons"]]
    if report["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {esc(w)}" for w in report["warnings"]]
    lines += ["", "## In plain words", ""]
    lines += [f"- {esc(r['summary'])}" for r in report["results"] if r["segment"] is None and r.get("summary")]
    lines += ["", "## Data quality", "", "Policy:", ""] + [f"- {p}" for p in q["policy"]]
    lines += ["", "| rows | count |", "| --- | ---: |", f"| input rows | {q['input_rows']} |"]
    for reason, n in q["excluded_rows"].items():
        lines.append(f"| excluded: {reason.replace('_', ' ')} | {n} |")
    lines.append(f"| accepted units (one row each) | {q['accepted_units']} |")
    lines += [
        "",
        f"- Accepted + excluded = input: {'yes' if q['accounted'] else 'NO'}. "
        f"Units with more than one row in the input: {q['units_with_several_rows_in_input']}. "
        f"Units in both arms: {q['units_in_both_arms']} (before removing contradicting rows: "
        f"{q['units_in_both_arms_before_consistency']}). Units with duplicate rows: {q['duplicate_units']}.",
    ]
    for c in q["consistency"]:
        detail = "; ".join(f"{esc(k)}: {v}" for k, v in c["by_value"].items())
        lines.append(f"- Consistency `{esc(c['check'])}`: {c['contradicting_rows']} contradicting rows ({detail}).")
    for metric, n in q["missing_outcome"].items():
        if n:
            lines.append(f"- Missing {esc(metric)}: {n} units left out of that metric.")
    for metric, n in q.get("missing_covariate_filled", {}).items():
        if n:
            lines.append(f"- Missing CUPED covariate for {esc(metric)}: {n} units kept unadjusted.")
    for key, n in q.get("input", {}).items():
        lines.append(f"- Loading: {key.replace('_', ' ')} = {n}.")
    lines += ["", "## Sample ratio", "", "| arm | units | expected |", "| --- | ---: | ---: |"]
    for a, n, e in zip(srm["arms"], srm["observed"], srm["expected"]):
        lines.append(f"| {esc(a)} | {n} | {e:.1f} |")
    lines += [
        "",
        f"Chi-square = {srm['chi2']:.3f}, p = {srm['p_value']:.3g} "
        f"({'MISMATCH' if srm['mismatch'] else 'no mismatch'} at p < {srm['threshold']:g}).",
    ]
    header = (
        "| metric | segment | arm | control mean (n) | treatment mean (n) | abs lift [CI] | rel lift [CI] "
        "| p | p adj | result |"
    )
    lines += [
        "",
        "## Results",
        "",
        f"{int(round(s['ci_level'] * 100))}% confidence intervals; p adjusted by "
        f"{report['correction']['method']} over {report['correction']['tests']} tests "
        f"({report['correction']['family']}).",
        "",
        header,
        "| --- " * 10 + "|",
    ]
    for r in report["results"]:
        binary = info[r["metric"]]["type"] == "binary"
        if r.get("p_value") is None:
            lines.append(
                f"| {esc(r['metric'])} | {esc(_seg_name(r['segment']))} | {esc(r['arm'])} | "
                f"n={r['n_control']} | n={r['n_treatment']} | {esc(r['skipped'])} | | | | |"
            )
            continue
        padj = "n/a" if r["p_adjusted"] is None else f"{r['p_adjusted']:.3g}"
        verdict = ("significant, " if r["significant"] else "not significant, ") + r["direction"]
        lines.append(
            f"| {esc(r['metric'])} | {esc(_seg_name(r['segment']))} | {esc(r['arm'])} | "
            f"{_fmt(r['mean_control'], binary)} ({r['n_control']}) | {_fmt(r['mean_treatment'], binary)} "
            f"({r['n_treatment']}) | {_fmt(r['abs_lift'], binary, True)} [{_fmt(r['abs_ci'][0], binary, True)}, "
            f"{_fmt(r['abs_ci'][1], binary, True)}] | {_pct(r['rel_lift'])} [{_pct(r['rel_ci'][0])}, "
            f"{_pct(r['rel_ci'][1])}] | {r['p_value']:.3g} | {padj} | {verdict} |"
        )
    cuped = [(m, i["cuped"]) for m, i in info.items() if i.get("cuped")]
    if cuped:
        lines += ["", "## CUPED", ""]
        lines += [
            f"- {esc(m)} adjusted by {esc(c['covariate'])}: theta = {c['theta']:.4g}, variance reduced by "
            f"{_pct(c['variance_reduction']).lstrip('+')}"
            for m, c in cuped
        ]
    if report["guardrails"]:
        lines += ["", "## Guardrails", ""]
        for g in report["guardrails"]:
            state = "HARMED" if g["harmed"] else "not harmed"
            p = "n/a" if g["p_value"] is None else f"{g['p_value']:.3g}"
            lines.append(f"- {esc(g['metric'])} ({esc(g['arm'])}): {state} (p = {p}, uncorrected)")
    lines += ["", "## Method", ""] + [f"- {m}" for m in report["method"]]
    return "\n".join(lines) + "\n"


def forest_rows(report: dict) -> dict:
    """Geometry of the forest plot of relative lifts (percent), for the HTML template."""
    rows = [
        r
        for r in report["results"]
        if r.get("p_value") is not None
        and r.get("rel_lift") is not None
        and r.get("rel_ci")
        and None not in r["rel_ci"]
    ]
    width, left, right, row_h, top = 760, 260, 40, 22, 30
    if not rows:
        return {"rows": [], "width": width, "height": 60, "ticks": []}
    lo = min(min(r["rel_ci"][0] for r in rows), 0.0)
    hi = max(max(r["rel_ci"][1] for r in rows), 0.0)
    pad = (hi - lo) * 0.05 or 0.01
    lo, hi = lo - pad, hi + pad
    scale = (width - right - left) / (hi - lo)

    def x(v: float) -> float:
        return round(left + (v - lo) * scale, 2)

    ticks = [{"x": x(t), "label": f"{t * 100:+.1f}%"} for t in np.linspace(lo + pad, hi - pad, 5)]
    out = []
    for i, r in enumerate(rows):
        y = top + i * row_h
        color = "#888888" if not r["significant"] else ("#1a7f37" if r["direction"] == "better" else "#cf222e")
        out.append(
            {
                "y": y,
                "label": f"{r['metric']} · {_seg_name(r['segment'])} · {r['arm']}",
                "x": x(r["rel_lift"]),
                "x_lo": x(r["rel_ci"][0]),
                "x_hi": x(r["rel_ci"][1]),
                "color": color,
                "text": f"{r['rel_lift'] * 100:+.2f}% [{r['rel_ci'][0] * 100:+.2f}%, {r['rel_ci'][1] * 100:+.2f}%]",
            }
        )
    return {
        "rows": out,
        "width": width,
        "height": top + len(rows) * row_h + 30,
        "zero": x(0.0),
        "ticks": ticks,
        "left": left,
        "right": width - right,
        "axis_y": top + len(rows) * row_h,
    }


def render_html(report: dict) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["fmt"] = _fmt
    env.filters["pct"] = _pct
    env.filters["segname"] = _seg_name
    return env.get_template("ab_report.html.j2").render(r=report, forest=forest_rows(report))


def write_ab_report(report: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write ab_report.json, ab_report.md and ab_report.html (self-contained, no network) into out_dir."""
    from refine.runs import write_json, write_text

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise RefineError("output path exists and is not a folder", where=str(out)) from None
    paths = {"json": out / "ab_report.json", "md": out / "ab_report.md", "html": out / "ab_report.html"}
    write_json(paths["json"], _finite(report))
    write_text(paths["md"], render_markdown(report))
    write_text(paths["html"], render_html(report))
    return paths
