"""Analysing an A/B test: per metric x arm x segment effects, SRM, CUPED, corrections, guardrails, decision."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from refine.errors import RefineError
from refine.experiment._common import _ALL, _finite, _fmt, _label, _numeric, _require_columns, is_binary
from refine.experiment.data import _clean, _normalise_covariates, parse_consistency
from refine.experiment.estimators import cuped_adjust, srm_check, two_proportion, welch
from refine.stats import adjust_pvalues


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
