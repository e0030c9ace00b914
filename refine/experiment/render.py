"""Writing an A/B analysis: ab_report.json (from the report), ab_report.md and a self-contained ab_report.html."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from jinja2 import Environment, FileSystemLoader, select_autoescape

from refine.errors import RefineError
from refine.experiment._common import _fmt, _pct, _seg_name
from refine.experiment.report import ABReport
from refine.io.runs import write_csv, write_json, write_text

Report = Mapping[str, Any]  # an ABReport, or the ab_report.json document it reads like
Escape = Callable[[Any], str]


class Shown(TypedDict):
    """A results row's interval and p-values under the interval in force."""

    abs_ci: list[float]
    rel_ci: list[float]
    p: float
    p_adj: float | None


def shown(r: Mapping[str, Any], interval: str) -> Shown:
    """The interval, p and adjusted p of a results row under the interval in force (fixed when absent)."""
    seq = r.get("sequential") if interval == "sequential" else None
    if seq:
        return {"abs_ci": seq["abs_ci"], "rel_ci": seq["rel_ci"], "p": seq["p_value"], "p_adj": seq.get("p_adjusted")}
    return {"abs_ci": r["abs_ci"], "rel_ci": r["rel_ci"], "p": r["p_value"], "p_adj": r.get("p_adjusted")}


def _num(value: Any, spec: str = ".3g", missing: str = "n/a") -> str:
    return missing if value is None else format(value, spec)


def _escape(text: Any) -> str:
    """Text safe in a markdown table cell or list item: pipes escaped, on one line."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    """ab_report.md: decision, warnings, data quality, sample ratio, results, adjustments, time, who it helps, method."""
    lines = _markdown_decision(report, _escape)
    lines += _markdown_data_quality(report["data_quality"], _escape)
    lines += _markdown_sample_ratio(report["srm"], _escape)
    lines += _markdown_results(report, _escape)
    lines += _markdown_adjustments(report["metrics"], _escape)
    lines += _markdown_time(report, _escape)
    lines += _markdown_heterogeneity(report, _escape)
    lines += _markdown_guardrails(report, _escape)
    lines += ["", "## Method", ""] + [f"- {m}" for m in report["method"]]
    return "\n".join(lines) + "\n"


def _markdown_decision(report: Report, esc: Escape) -> list[str]:
    """The title, the decision with its reasons, the interval in force, warnings and the plain-words summaries."""
    d = report["decision"]
    headline = f" ({esc(d['headline'])})" if d.get("headline") else ""
    lines = ["# A/B test analysis", "", f"**Decision: {d['decision'].upper()}**{headline}", ""]
    lines += [f"- {esc(r)}" for r in d["reasons"]]
    for arm_name, arm_d in d.get("per_arm", {}).items():
        if arm_d.get("bayesian"):
            lines.append(f"- Bayesian ({esc(arm_name)}): {esc(arm_d['bayesian'])}")
    if report.get("interval"):
        lines += ["", f"**Interval in force:** {esc(report['interval']['statement'])}"]
    if report["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {esc(w)}" for w in report["warnings"]]
    lines += ["", "## In plain words", ""]
    lines += [f"- {esc(r['summary'])}" for r in report["results"] if r["segment"] is None and r.get("summary")]
    return lines


def _markdown_data_quality(q: Mapping[str, Any], esc: Escape) -> list[str]:
    """The data-quality section: policy, rows in and excluded, duplicates, contradictions, missing values."""
    lines = ["", "## Data quality", "", "Policy:", ""] + [f"- {p}" for p in q["policy"]]
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
    lines += [f"- {esc(line)}" for line in arm_label_lines(q)]
    for metric, n in q["missing_outcome"].items():
        if metric in q.get("metrics_without_values", []):
            lines.append(f"- {esc(metric)} has no value for any unit: it is not tested.")
        elif n:
            lines.append(f"- Missing {esc(metric)}: {n} units left out of that metric.")
    for metric, n in q.get("missing_covariate_filled", {}).items():
        if n:
            lines.append(f"- Missing CUPED covariate for {esc(metric)}: {n} units kept unadjusted.")
    for key, n in q.get("input", {}).items():
        lines.append(f"- Loading: {key.replace('_', ' ')} = {n}.")
    return lines


def arm_label_lines(q: Mapping[str, Any]) -> list[str]:
    """The data-quality lines on arm labels: left out (a misspelled arm, or one the plan never assigned), counted
    as another arm (--arm-map), or rare but analysed as an arm."""
    labels = q.get("arm_labels") or {}
    lines = []
    for x in labels.get("left_out", []):
        why = f"looks like {x['resembles']!r}" if x.get("resembles") else "not an arm of the plan"
        lines.append(
            f"Arm label {x['label']!r} left out ({why}): {x['rows']} rows, {x['units']} units; listed in ab_rejects.csv."
        )
    for x in labels.get("mapped", []):
        lines.append(f"Arm label {x['label']!r} counted as {x['to']!r} (--arm-map): {x['rows']} rows.")
    for x in labels.get("rare_kept", []):
        lines.append(f"Arm {x['label']!r} holds only {x['units']} units ({x['share']:.1%}); analysed as an arm.")
    return lines


def srm_left_out(srm: Mapping[str, Any]) -> str:
    """What the sample-ratio check left out, in words."""
    left = srm.get("left_out") or []
    if not left:
        return "Every arm label in the data is in this check."
    parts = [f"{x['label']!r} ({x['rows']} rows)" for x in left]
    return f"Left out of this check and of the analysis: {', '.join(parts)} (see Data quality)."


def _markdown_sample_ratio(srm: Mapping[str, Any], esc: Escape) -> list[str]:
    """Units per arm against the expected split, and the chi-square test of the ratio."""
    lines = ["", "## Sample ratio", "", "| arm | units | expected |", "| --- | ---: | ---: |"]
    for a, n, e in zip(srm["arms"], srm["observed"], srm["expected"]):
        lines.append(f"| {esc(a)} | {n} | {e:.1f} |")
    lines += [
        "",
        f"Chi-square = {srm['chi2']:.3f}, p = {srm['p_value']:.3g} "
        f"({'MISMATCH' if srm['mismatch'] else 'no mismatch'} at p < {srm['threshold']:g}). " + esc(srm_left_out(srm)),
    ]
    return lines


def _markdown_results(report: Report, esc: Escape) -> list[str]:
    """The results table: one row per metric x segment x arm, under the interval in force."""
    s, info = report["settings"], report["metrics"]
    interval = s.get("interval", "fixed")
    kind = "always-valid (sequential)" if interval == "sequential" else "fixed-horizon"
    header = (
        "| metric | segment | arm | control mean (n) | treatment mean (n) | abs lift [CI] | rel lift [CI] "
        "| p | p adj | result | P(beat control) | risk if shipped |"
    )
    lines = [
        "",
        "## Results",
        "",
        f"{int(round(s['ci_level'] * 100))}% {kind} confidence intervals and p-values; p adjusted by "
        f"{report['correction']['method']} over {report['correction']['tests']} tests "
        f"({report['correction']['family']}). {report['correction'].get('arms_statement', '')} "
        "Bayesian columns: posterior on the relative effect (risk = expected relative loss if shipped).",
        "",
        header,
        "| --- " * 12 + "|",
    ]
    for r in report["results"]:
        lines.append(_markdown_result_row(r, info[r["metric"]]["type"] == "binary", interval, esc))
    return lines


def _markdown_result_row(r: Mapping[str, Any], binary: bool, interval: str, esc: Escape) -> str:
    """One row of the results table (a skipped test shows why in the lift column)."""
    if r.get("p_value") is None:
        return (
            f"| {esc(r['metric'])} | {esc(_seg_name(r['segment']))} | {esc(r['arm'])} | "
            f"n={r['n_control']} | n={r['n_treatment']} | {esc(r['skipped'])} | | | | | | |"
        )
    v = shown(r, interval)
    padj = _num(v["p_adj"])
    verdict = ("significant, " if r["significant"] else "not significant, ") + r["direction"]
    bayes = r.get("bayesian", {})
    ctw = _num(bayes.get("chance_to_win"), ".1%")
    risk = "n/a" if bayes.get("risk_ship") is None else f"{bayes['risk_ship'] * 100:.3g}%"
    return (
        f"| {esc(r['metric'])} | {esc(_seg_name(r['segment']))} | {esc(r['arm'])} | "
        f"{_fmt(r['mean_control'], binary)} ({r['n_control']}) | {_fmt(r['mean_treatment'], binary)} "
        f"({r['n_treatment']}) | {_fmt(r['abs_lift'], binary, True)} [{_fmt(v['abs_ci'][0], binary, True)}, "
        f"{_fmt(v['abs_ci'][1], binary, True)}] | {_pct(r['rel_lift'])} [{_pct(v['rel_ci'][0])}, "
        f"{_pct(v['rel_ci'][1])}] | {v['p']:.3g} | {padj} | {verdict} | {ctw} | {risk} |"
    )


def _markdown_adjustments(info: Mapping[str, Any], esc: Escape) -> list[str]:
    """How metrics were adjusted: CUPED, capping at a percentile, ratio metrics."""
    lines: list[str] = []
    cuped = [(m, i["cuped"]) for m, i in info.items() if i.get("cuped")]
    if cuped:
        lines += ["", "## CUPED", ""]
        lines += [
            f"- {esc(m)} adjusted by {esc(c['covariate'])}: theta = {c['theta']:.4g}, variance reduced by "
            f"{_pct(c['variance_reduction']).lstrip('+')}"
            for m, c in cuped
        ]
    if any(i.get("capped") or i.get("ratio") for i in info.values()):
        lines.append("")
    for m, i in info.items():
        if i.get("capped"):
            c = i["capped"]
            lines.append(
                f"- {esc(m)} capped at its {c['percentile'] * 100:g}th percentile over all arms ({c['cap']:.4g}): "
                f"{c['units_capped']} units capped."
            )
        if i.get("ratio"):
            lines.append(
                f"- {esc(m)} = sum of {esc(i['ratio']['numerator'])} / sum of {esc(i['ratio']['denominator'])} "
                "per arm (delta method)."
            )
    return lines


def _markdown_guardrails(report: Report, esc: Escape) -> list[str]:
    """Each guardrail metric: harmed or not, with its uncorrected (or always-valid) p."""
    if not report["guardrails"]:
        return []
    interval = report["settings"].get("interval", "fixed")
    lines = ["", "## Guardrails", ""]
    for g in report["guardrails"]:
        state = "HARMED" if g["harmed"] else "not harmed"
        p = "n/a" if g["p_value"] is None else f"{g['p_value']:.3g}"
        if interval == "sequential" and g.get("p_judged") is not None:
            p = f"{g['p_judged']:.3g} always-valid"
        lines.append(f"- {esc(g['metric'])} ({esc(g['arm'])}): {state} (p = {p}, uncorrected)")
    return lines


def _markdown_time(report: Report, esc: Escape) -> list[str]:
    daily = report.get("daily") or []
    if not daily:
        return []
    primary = report["settings"]["primary"]
    interval = report["settings"].get("interval", "fixed")
    binary = report["metrics"][primary]["type"] == "binary"
    lines = ["", "## Over time", ""]
    acc = report.get("accrual") or {}
    if acc.get("days"):
        lines.append(f"{acc['days']} days of exposure ({acc['first_day']} to {acc['last_day']}).")
    for series in (s for s in daily if s["metric"] == primary):
        lines += [
            "",
            f"Cumulative effect on {esc(primary)}, {esc(series['arm'])} vs control ({interval} interval):",
            "",
            "| day | units | abs lift | interval |",
            "| --- | ---: | ---: | --- |",
        ]
        cis = series["sequential_ci"] if interval == "sequential" else series["fixed_ci"]
        for i, day in enumerate(series["days"]):
            lo, hi = cis[i]
            lines.append(
                f"| {day} | {series['n_control'][i] + series['n_treatment'][i]} | "
                f"{_fmt(series['abs_lift'][i], binary, True)} | [{_fmt(lo, binary, True)}, {_fmt(hi, binary, True)}] |"
            )
    if report.get("novelty"):
        lines.append("")
    for check in report.get("novelty") or []:
        lines.append(f"- Novelty check, {esc(check['metric'])} ({esc(check['arm'])}): {esc(check['verdict'])}.")
    return lines


def _markdown_heterogeneity(report: Report, esc: Escape) -> list[str]:
    tests = report.get("heterogeneity") or []
    if not tests:
        return []
    lines = [
        "",
        "## Who it helps",
        "",
        f"Cochran's Q across levels, p adjusted by {report['correction']['method']} over {len(tests)} tests.",
        "",
        "| column | metric | arm | levels | Q | p | p adj | differs | hurt levels |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for t in tests:
        hurt = ", ".join(lv["level"] for lv in t["levels"] if lv["opposite"]) or "none"
        if t.get("skipped"):
            lines.append(
                f"| {esc(t['column'])} | {esc(t['metric'])} | {esc(t['arm'])} | {t['levels_tested']} | "
                f"{esc(t['skipped'])} | | | | |"
            )
            continue
        lines.append(
            f"| {esc(t['column'])} | {esc(t['metric'])} | {esc(t['arm'])} | {t['levels_tested']} | {t['q']:.3g} | "
            f"{t['p_value']:.3g} | {_num(t['p_adjusted'])} | {'yes' if t['differs'] else 'no'} | {esc(hurt)} |"
        )
    return lines


def daily_chart(report: Report) -> list[dict[str, Any]]:
    """Geometry of the cumulative-effect charts (primary metric, one per arm) for the HTML template."""
    daily = report.get("daily") or []
    primary = report["settings"]["primary"]
    interval = report["settings"].get("interval", "fixed")
    binary = report["metrics"].get(primary, {}).get("type") == "binary"
    charts = []
    width, height, left, right, top, bottom = 760, 240, 70, 20, 20, 40
    for series in (s for s in daily if s["metric"] == primary):
        cis = series["sequential_ci"] if interval == "sequential" else series["fixed_ci"]
        points = [
            (i, series["abs_lift"][i], cis[i][0], cis[i][1])
            for i in range(len(series["days"]))
            if series["abs_lift"][i] is not None and None not in cis[i]
        ]
        if not points:
            continue
        lo = min(min(p[2] for p in points), 0.0)
        hi = max(max(p[3] for p in points), 0.0)
        pad = (hi - lo) * 0.05 or 0.01
        lo, hi = lo - pad, hi + pad
        n = max(len(series["days"]) - 1, 1)

        def x(i: float, n: int = n) -> float:
            return round(left + i * (width - left - right) / n, 2)

        def y(v: float, lo: float = lo, hi: float = hi) -> float:
            return round(top + (hi - v) * (height - top - bottom) / (hi - lo), 2)

        band = [f"{x(p[0])},{y(p[3])}" for p in points] + [f"{x(p[0])},{y(p[2])}" for p in reversed(points)]
        ticks = [{"y": y(v), "label": _fmt(float(v), binary, True)} for v in np.linspace(lo + pad, hi - pad, 5)]
        step = max(1, len(series["days"]) // 6)
        charts.append(
            {
                "arm": series["arm"],
                "metric": primary,
                "interval": interval,
                "width": width,
                "height": height,
                "left": left,
                "right": width - right,
                "zero": y(0.0),
                "axis_y": height - bottom,
                "band": " ".join(band),
                "line": " ".join(f"{x(p[0])},{y(p[1])}" for p in points),
                "ticks": ticks,
                "xticks": [{"x": x(i), "label": series["days"][i]} for i in range(0, len(series["days"]), step)],
            }
        )
    return charts


def forest_rows(report: Report) -> dict[str, Any]:
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


def render_html(report: Report) -> str:
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent.parent / "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["fmt"] = _fmt
    env.filters["pct"] = _pct
    env.filters["segname"] = _seg_name
    env.globals.update(arm_label_lines=arm_label_lines, srm_left_out=srm_left_out)
    interval = report["settings"].get("interval", "fixed")
    return env.get_template("ab_report.html.j2").render(
        r=report, forest=forest_rows(report), charts=daily_chart(report), interval=interval, shown=shown
    )


def write_ab_report(report: ABReport | Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ab_report.json, ab_report.md and ab_report.html (self-contained, no network) into out_dir, and
    ab_rejects.csv (the rows left out for a stray arm label, with the reason) when the report holds them."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise RefineError("output path exists and is not a folder", where=str(out)) from None
    report = ABReport.from_json(report)
    paths = {"json": out / "ab_report.json", "md": out / "ab_report.md", "html": out / "ab_report.html"}
    write_json(paths["json"], report.to_json())
    write_text(paths["md"], render_markdown(report))
    write_text(paths["html"], render_html(report))
    if report.rejects is not None:
        paths["rejects"] = out / "ab_rejects.csv"
        write_csv(paths["rejects"], report.rejects)
    return paths
