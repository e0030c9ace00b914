"""Writing an A/B analysis: ab_report.json (from the report), ab_report.md and a self-contained ab_report.html."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from refine.errors import RefineError
from refine.experiment._common import _finite, _fmt, _pct, _seg_name


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
        loader=FileSystemLoader(str(Path(__file__).parent.parent / "templates")),
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
