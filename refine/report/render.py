"""The stakeholder report: self-contained HTML (inline SVG charts, no network) and Markdown.

All feedback-derived text (quotes, keywords, labels, segment names, rules) is escaped: HTML by
Jinja2 autoescaping, Markdown by escaping its control characters and any HTML.
"""

from __future__ import annotations

import html
import math
import re
import shlex
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from scipy import stats
from scipy.stats import spearmanr

from refine import schemas as S
from refine.errors import RefineError
from refine.files import read_json, write_text
from refine.insights.charts import driver_chart, waterfall_chart
from refine.insights.drivers import score_name
from refine.insights.followup import changed_segments
from refine.segments.model import Proposal
from refine.segments.rules import rule_sql
from refine.segments.value import money
from refine.stats import Z95, benjamini_hochberg, is_binary
from refine.text.sentiment.stage import SentimentResult
from refine.text.themes.model import ParentTheme, Theme
from refine.wording import pct, proposal_headline  # noqa: F401 - the templates use both

if TYPE_CHECKING:
    from refine.run.results import CycleResult

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


# ---- words -------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def fmt(value: Any, digits: int = 2) -> str:
    if _missing(value):
        return "n/a"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def pval(value: Any) -> str:
    """What follows "p" or "q": "= 0.0123", or "< 0.0001" (never a bare 0.0000)."""
    if _missing(value):
        return "n/a"
    return "< 0.0001" if float(value) < 0.0001 else f"= {float(value):.4f}"


def amount(value: Any) -> str:
    """An outcome value on its own scale: thousands separated, two decimals below 1,000, none above."""
    if _missing(value):
        return "n/a"
    value = float(value)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}"


def difference(c: dict) -> str:
    """A difference with its 95% interval, in points for shares (+10.6 pts [+9.1, +12.2]), else in units."""
    if c.get("kind") == "proportion":
        return f"{100 * c['diff']:+.1f} pts [{100 * c['ci_low']:+.1f}, {100 * c['ci_high']:+.1f}]"
    return f"{c['diff']:+.2f} [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]"


def impact(e: dict, name=str) -> str:
    """One outcome's gap: both means, the difference with its interval, and what it adds up to."""
    if e.get("kind") == "proportion":
        total = e["total_difference"]
        return (
            f"{name(e['outcome'])}: {100 * e['segment_mean']:.1f}% vs {100 * e['compared_mean']:.1f}%, "
            f"{100 * e['diff']:+.1f} points (95% CI {100 * e['ci_low']:+.1f} to {100 * e['ci_high']:+.1f}) "
            f"across {e['customers']:,} customers: about {abs(total):,.0f} "
            f"{'more' if total > 0 else 'fewer'} than at the compared rate"
        )
    return (
        f"{name(e['outcome'])}: {amount(e['segment_mean'])} vs {amount(e['compared_mean'])} per customer, "
        f"{e['diff']:+,.2f} (95% CI {e['ci_low']:+,.2f} to {e['ci_high']:+,.2f}) across "
        f"{e['customers']:,} customers: {e['total_difference']:+,.0f} in total"
    )


def score_gap(g: dict) -> str:
    """The feedback score of the rule's customers vs the compared ones: NPS, top-2-box or mean."""
    digits = {"nps": 0, "proportion": 0}.get(g["kind"], 2)
    ci = f"95% CI {{:+.{digits}f}} to {{:+.{digits}f}}"
    if g["kind"] == "nps":
        head = (
            f"NPS {g['group_value']:+.0f} vs {g['rest_value']:+.0f}, {g['diff']:+.0f} points "
            f"({ci.format(g['ci_low'], g['ci_high'])})"
        )
    elif g["kind"] == "proportion":
        head = (
            f"{g['measure']} {100 * g['group_value']:.0f}% vs {100 * g['rest_value']:.0f}%, "
            f"{100 * g['diff']:+.0f} points ({ci.format(100 * g['ci_low'], 100 * g['ci_high'])})"
        )
    else:
        head = (
            f"{g['measure']} {g['group_value']:.2f} vs {g['rest_value']:.2f}, {g['diff']:+.2f} "
            f"({ci.format(g['ci_low'], g['ci_high'])})"
        )
    return f"{head} over {g['n_group']:,} vs {g['n_rest']:,} answers"


def outcome_cell(row: dict, outcome: str, binary: bool) -> str:
    """A segment's outcome mean with its interval: 13.1% [12.1, 14.1] for a 0/1 outcome, else 937.25 [918.76, 955.73]."""
    mean, low, high = (row.get(f"outcome:{outcome}:{k}") for k in ("mean", "ci_low", "ci_high"))
    if mean is None or low is None or high is None or not math.isfinite(float(mean)):
        return "n/a"
    if binary:
        return f"{100 * mean:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"
    return f"{amount(mean)} [{amount(low)}, {amount(high)}]"


def impact_md(e: dict) -> str:
    return impact(e, name=md_escape)


def lead_outcome(p: Proposal) -> str:
    """The outcome an A/B test of the proposal would measure first."""
    if p.expected_impact:
        return p.expected_impact[0]["outcome"]
    equivalence = p.evidence.equivalence or [{}]
    return equivalence[0].get("measure", "OUTCOME")


DEFAULT_MDE_RELATIVE = 0.05  # the suggested test's effect when there is no observed gap: 5% of the baseline


def ab_command(p: Proposal, run_dir: str, outcomes: list[str], constant: Collection[str] = ()) -> dict | None:
    """The `refine ab plan` command that sizes a test of the proposal, ready to paste, and its assumption.

    Run from the folder refine was run in: the run folder is written as the run was given it (relative to that
    folder, or absolute). The effect is the observed outcome gap when there is one, else a 5% relative change.
    None when the run has no outcome to test on. An outcome in `constant` (the same for every customer) is
    never suggested: another that varies is, or no command (`command` None) with the reason in `why`.
    """
    metric = lead_outcome(p)
    varying = [o for o in outcomes if o not in constant]
    if metric not in varying:
        if not outcomes:
            return None
        if not varying:
            shown = ", ".join(outcomes)
            return {
                "command": None,
                "why": f"no outcome ({shown}) varies between customers, so a test could show no difference",
            }
        metric = varying[0]
    lead = (p.expected_impact or [{}])[0]
    words = ["refine", "ab", "plan", "--run", run_dir, "--proposal", p.id, "--metric", metric]
    if lead.get("outcome") == metric and math.isfinite(float(lead.get("diff", math.nan))) and lead["diff"] != 0:
        size = abs(float(lead["diff"]))
        words += ["--mde", f"{size:.4g}"]
        what = "points" if lead.get("kind") == "proportion" else "per customer"
        shown = f"{100 * size:.1f} points" if what == "points" else f"{size:,.4g} per customer"
        assumption = f"sized for the observed gap on {metric} ({shown}); give --mde the smallest change worth acting on"
    else:
        words += ["--mde", f"{DEFAULT_MDE_RELATIVE:g}", "--relative"]
        assumption = (
            f"sized for a {100 * DEFAULT_MDE_RELATIVE:.0f}% relative change in {metric} (a default, not a "
            "measured gap); give --mde the smallest change worth acting on"
        )
    words += ["--out", f"ab-{p.id}"]
    return {"command": " ".join(shlex.quote(str(w)) for w in words), "assumption": assumption}


def gap(e: dict) -> str:
    """The observed outcome gap alone: +10.6 points, or +12.34."""
    return f"{100 * e['diff']:+.1f} points" if e.get("kind") == "proportion" else f"{e['diff']:+,.2f}"


def period(timestamps: pd.Series) -> str | None:
    """'1 May 2024 to 31 May 2024' for the comments' timestamps (None when there are none)."""
    known = pd.to_datetime(timestamps, errors="coerce", utc=True).dropna()
    if known.empty:
        return None
    first, last = known.min(), known.max()
    day = lambda t: f"{t.day} {t:%B %Y}"  # noqa: E731
    return day(first) if first.date() == last.date() else f"{day(first)} to {day(last)}"


def _interval(c: dict, scale: float = 1.0, unit: str = "") -> str:
    return f"{c['diff'] * scale:+.2f}{unit} (95% CI {c['ci_low'] * scale:+.2f} to {c['ci_high'] * scale:+.2f}{unit})"


def describe_comparison(c: dict) -> str:
    """One plain sentence for one difference, uncertainty included."""
    label = c.get("label") or c["measure"]
    if c["kind"] == "proportion":
        low, high = sorted((100 * c["ci_low"], 100 * c["ci_high"]))
        direction = "more" if c["diff"] > 0 else "fewer"
        return (
            f"{label}: {pct(c['group_value'])} vs {pct(c['rest_value'])} — between {abs(low):.0f} and "
            f"{abs(high):.0f} points {direction}"
            if low * high > 0
            else f"{label}: {pct(c['group_value'])} vs {pct(c['rest_value'])} (95% CI {low:+.0f} to {high:+.0f} points)"
        )
    return (
        f"{label}: {fmt(c['group_value'])} vs {fmt(c['rest_value'])}, difference "
        f"{_interval(c)}, effect size {c['effect']:+.2f}"
    )


def _gap(c: dict, kind: str) -> str:
    if c.get("diff") is None or not math.isfinite(float(c["diff"])):
        return "not measurable"
    scale, unit = (100.0, " points") if kind == "proportion" else (1.0, "")
    n = c.get("n") or [c.get("n_group"), c.get("n_rest")]
    return f"{_interval(c, scale, unit)}, n {n[0]}" + (f" vs {n[1]}" if n[1] is not None else "")


def describe_followup(m: dict) -> str:
    """A decision's gap on one measure when it was accepted and the same gap this month, in one line."""
    kind = (m.get("then") or {}).get("kind", "mean")
    now = m.get("now")
    shown = _gap(now, kind) if now else "not measured" if m.get("not_measured") else "too few answers or events"
    return (
        f"{m.get('label') or m['measure']}: when proposed ({m['then'].get('sample', 'held-out customers')}) "
        f"{_gap(m['then'], kind)}; this month {shown}"
    )


def _merge_measures(ev) -> str:
    """A merge's evidence (issue 29): what was shown equivalent, what could not be compared (with its n), why not."""
    held = ev.holdout if isinstance(ev.holdout, dict) else {}

    def shown(e: dict) -> str:
        if e["measure"] == "topic_mix":
            over = " over the parent themes" if str(e.get("level", "")).startswith("parent") else ""
            return f"topic mix{over} {e['diff']:.2f} apart (bound {e['ci_high']:.2f}, margin {e['margin']:.2f})"
        margin = f"{100 * e['margin']:.1f} pts" if e.get("kind") == "proportion" else f"{e['margin']:.3g}"
        return f"{e['measure']} differs by {difference(e)} (margin {margin})"

    parts = []
    for role, said in (("outcome", "they do the same things"), ("feedback", "they say the same things")):
        tested = [e for e in held.get("equivalence") or [] if e.get("role") == role]
        missing = [e for e in held.get("not_compared") or [] if e.get("role") == role]
        if tested:
            label = said if ev.status == "confirmed" else {"outcome": "outcomes", "feedback": "feedback"}[role]
            parts.append(f"{label}: " + ", ".join(map(shown, tested)))
        if missing:
            what = "what they do" if role == "outcome" else "what they say"
            parts.append(
                f"{what} could not be compared: "
                + "; ".join(f"{e['measure']} {e['reason']}, n = {sum(e['n'])}" for e in missing)
            )
    over = "all their customers" if held.get("sample") == "all customers" else "held-out customers"
    text = f"On {over}, " + "; ".join(parts) + "." if parts else ""
    return text if ev.status == "confirmed" else f"Not confirmed: {ev.why_not}. {text}".strip()


def proposal_summary(p: Proposal) -> str:
    ev = p.evidence
    if p.kind == "merge":
        if ev.reason is not None:
            return f"{ev.status.capitalize()}: {ev.reason}" if ev.status else ev.reason
        if ev.status is not None:
            return _merge_measures(ev)
        eq = "; ".join(f"{e['measure']} differs by {difference(e)}" for e in ev.equivalence or [])
        fd = ev.feedback_difference or {}
        text = (
            f"Outcomes equivalent within the margin: {eq}. No detectable difference in what they talk about "
            f"or how they feel (permutation p {pval(fd.get('permutation_p'))})."
        )
        held = ev.holdout or {}
        assert isinstance(held, dict)  # a merge's holdout before 0.3.1: equivalence and permutation
        if held.get("equivalence"):
            text += (
                " On held-out customers: "
                + "; ".join(f"{e['measure']} differs by {difference(e)}" for e in held["equivalence"])
                + f" (permutation p {pval(held.get('permutation_p'))})."
            )
        return text
    # lead with the held-out estimates: the discovery ones were picked for being large, so they run high
    held = {c["measure"]: c for c in ev.holdout or []}
    lead = (ev.discovery or [])[:3]
    if lead and all(c["measure"] in held for c in lead):
        return "On held-out customers: " + "; ".join(describe_comparison(held[c["measure"]]) for c in lead)
    return "; ".join(describe_comparison(c) for c in lead)


# ---- charts (inline SVG) -----------------------------------------------------------------------


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


SMALL_N = 30  # [report] small_n's default: answers below which a figure is faded and marked


def sentiment_chart(segments: pd.DataFrame, small_n: int = SMALL_N) -> str:
    """Mean sentiment per segment with its 95% interval, as an inline SVG dot-and-whisker chart.

    A segment with fewer than `small_n` respondents is drawn faded, its dot hollow, and marked "few".
    """
    rows = segments.dropna(subset=["sentiment_mean"])
    if rows.empty:
        return ""
    width, left, row_h = 720, 220, 30
    height = 40 + row_h * len(rows)
    x = lambda v: left + (v + 1) / 2 * (width - left - 30)  # noqa: E731 - sentiment spans -1..1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Sentiment by segment" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">'
    ]
    for tick in (-1, -0.5, 0, 0.5, 1):
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="20" x2="{x(tick):.1f}" y2="{height - 15}" stroke="#ddd"/>'
            f'<text x="{x(tick):.1f}" y="{height - 2}" font-size="11" text-anchor="middle" fill="#555">{tick:+g}</text>'
        )
    for i, (_, r) in enumerate(rows.iterrows()):
        y = 32 + i * row_h
        low = r["sentiment_ci_low"] if math.isfinite(r["sentiment_ci_low"]) else r["sentiment_mean"]
        high = r["sentiment_ci_high"] if math.isfinite(r["sentiment_ci_high"]) else r["sentiment_mean"]
        colour = "#c0392b" if r["sentiment_mean"] < -0.1 else ("#27ae60" if r["sentiment_mean"] > 0.1 else "#7f8c8d")
        small = int(r["respondents"]) < small_n
        fill, fade = ("#fff", ' opacity="0.45"') if small else (colour, "")
        parts.append(
            f'<g class="{"small-n" if small else "n"}"{fade}>'
            f'<text x="{left - 10}" y="{y + 4}" font-size="13" text-anchor="end">{_esc(r["segment"])} '
            f"(n={int(r['respondents'])}{', few' if small else ''})</text>"
            f'<line x1="{x(low):.1f}" y1="{y}" x2="{x(high):.1f}" y2="{y}" stroke="{colour}" stroke-width="3"/>'
            f'<circle cx="{x(r["sentiment_mean"]):.1f}" cy="{y}" r="6" fill="{fill}" stroke="{colour}" stroke-width="2"/>'
            "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def heatmap(segments: pd.DataFrame, topics: list[Theme], limit: int = 12, small_n: int = SMALL_N) -> str:
    """Segment x topic share of comments for the `limit` largest topics, as an inline SVG heatmap.

    Each row names its respondents (n); a segment with fewer than `small_n` is hatched and pale, never
    coloured as strongly as a well-measured one, and left out of the scale's peak.
    """
    shown = [t for t in topics if t.status != "fading" and f"topic_{t.id}_share" in segments.columns]
    shown = sorted(shown, key=lambda t: (-t.size, t.id))[:limit]
    if not shown or segments.empty:
        return ""
    cell_w, cell_h, left, top = 64, 28, 240, 150
    width = left + cell_w * len(shown) + 10
    height = top + cell_h * len(segments) + 10
    columns = [f"topic_{t.id}_share" for t in shown]
    measured = segments[segments["respondents"] >= small_n]
    peak = max(float((measured if len(measured) else segments)[columns].to_numpy().max()), 1e-9)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Topic share by segment" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">'
        '<defs><pattern id="small-n" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4f4f4"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#c8c8c8" stroke-width="2"/></pattern></defs>'
    ]
    for j, t in enumerate(shown):
        cx = left + j * cell_w + cell_w / 2
        label = t.label if len(t.label) <= 24 else t.label[:23] + "…"
        parts.append(f'<text transform="translate({cx:.0f},{top - 8}) rotate(-40)" font-size="11">{_esc(label)}</text>')
    for i, (_, r) in enumerate(segments.iterrows()):
        y = top + i * cell_h
        n = int(r["respondents"])
        small = n < small_n
        parts.append(
            f'<text x="{left - 8}" y="{y + cell_h / 2 + 4}" font-size="12" text-anchor="end" '
            f'fill="{"#888" if small else "#222"}">{_esc(r["segment"])} (n={n}{", few" if small else ""})</text>'
        )
        for j, t in enumerate(shown):
            share = float(r[f"topic_{t.id}_share"])
            strong = min(share / peak, 1.0)
            fill = "url(#small-n)" if small else f"rgba(41,128,185,{0.08 + 0.92 * strong:.2f})"
            note = f" (n={n}: fewer than {small_n} respondents, read with care)" if small else f" (n={n})"
            parts.append(
                f'<rect x="{left + j * cell_w}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{fill}"><title>{_esc(r["segment"])} / {_esc(t.label)}: {100 * share:.0f}%{note}</title></rect>'
                f'<text x="{left + j * cell_w + cell_w / 2 - 1}" y="{y + cell_h / 2 + 4}" font-size="11" '
                f'text-anchor="middle" fill="{"#888" if small else ("#fff" if strong > 0.6 else "#222")}">'
                f"{100 * share:.0f}%</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def impact_chart(topics: list[Theme], limit: int = 10, small_n: int = SMALL_N) -> str:
    """Mean sentiment per topic, most negative first, as horizontal bars.

    Topics of fewer than `small_n` comments are left out (one comment is not "the most negative topic");
    the topics table still lists them.
    """
    rows = [t for t in topics if t.status != "fading" and t.mean_sentiment is not None and t.size >= small_n]
    rows = sorted(rows, key=lambda t: float(t.mean_sentiment or 0.0))[:limit]
    if not rows:
        return ""
    width, left, row_h = 720, 260, 26
    height = 20 + row_h * len(rows)
    mid = left + (width - left - 20) / 2
    scale = (width - left - 20) / 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Sentiment by topic" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">'
        f'<line x1="{mid}" y1="0" x2="{mid}" y2="{height}" stroke="#999"/>'
    ]
    for i, t in enumerate(rows):
        y = 10 + i * row_h
        v = float(t.mean_sentiment or 0.0)
        x0, w = (mid + v * scale, -v * scale) if v < 0 else (mid, v * scale)
        colour = "#c0392b" if v < 0 else "#27ae60"
        label = t.label if len(t.label) <= 34 else t.label[:33] + "…"
        parts.append(
            f'<text x="{left - 8}" y="{y + 13}" font-size="12" text-anchor="end">{_esc(label)} '
            f'({t.size})</text><rect x="{x0:.1f}" y="{y}" width="{max(w, 1):.1f}" height="18" fill="{colour}"/>'
            f'<text x="{mid + (6 if v < 0 else -6)}" y="{y + 13}" font-size="11" '
            f'text-anchor="{"start" if v < 0 else "end"}">{v:+.2f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# ---- cycle over cycle --------------------------------------------------------------------------


def compare_with_previous(
    previous: Path,
    topics: list[Theme],
    segments: pd.DataFrame,
    fading: list[Theme],
    redrawn: pd.DataFrame | None = None,
    accepted: list[dict] | None = None,
) -> dict:
    """What changed since last month: emerging and fading topics, sentiment shifts per segment.

    A segment is compared with the same definition last month: ``redrawn`` holds last month's profiles
    with the ``accepted`` decisions applied to last month's customers (refine.insights.followup). Without
    it (an older run), a segment an accepted decision changed is not compared: its composition changed.
    """
    out: dict[str, Any] = {"previous": str(previous)}
    out["emerging"] = [{"id": t.id, "label": t.label, "size": t.size} for t in topics if t.status == "emerging"]
    out["fading"] = [{"id": t.id, "label": t.label} for t in fading]
    shifts = []
    changed = changed_segments(accepted or []) if redrawn is None else set()
    out["basis"] = (
        "last month's customers under the same definition"
        if redrawn is not None
        else "last month's segment of the same name"
    )
    out["not_compared"] = sorted(str(s) for s in changed if s in set(segments["segment"].astype(str)))
    if redrawn is not None:
        before = redrawn
    else:
        try:
            before = pd.read_parquet(previous / "segments.parquet")
        except Exception:
            before = pd.DataFrame()
    for _, now in segments.iterrows():
        match = before[before["segment"] == now["segment"]] if not before.empty else before
        if match.empty or str(now["segment"]) in changed:
            continue
        was = match.iloc[0]
        se_now = (now["sentiment_ci_high"] - now["sentiment_ci_low"]) / (2 * Z95)
        se_was = (was["sentiment_ci_high"] - was["sentiment_ci_low"]) / (2 * Z95)
        diff = now["sentiment_mean"] - was["sentiment_mean"]
        se = math.sqrt(se_now**2 + se_was**2) if math.isfinite(se_now) and math.isfinite(se_was) else math.nan
        p = float(2 * stats.norm.sf(abs(diff) / se)) if se and math.isfinite(se) and se > 0 else math.nan
        shifts.append(
            {
                "segment": now["segment"],
                "before": float(was["sentiment_mean"]),
                "now": float(now["sentiment_mean"]),
                "diff": float(diff),
                "ci_low": diff - Z95 * se,
                "ci_high": diff + Z95 * se,
                "p_value": p,
            }
        )
    for shift, q in zip(
        shifts, benjamini_hochberg([s["p_value"] if math.isfinite(s["p_value"]) else 1.0 for s in shifts])
    ):
        shift["p_adjusted"] = q
    out["sentiment_shifts"] = shifts
    try:
        decisions = read_json(previous / "decisions.json", "decisions")
    except Exception:
        decisions = {}
    out["previous_decisions"] = decisions.get("decisions", []) if isinstance(decisions, dict) else []
    return out


# ---- the report --------------------------------------------------------------------------------


@dataclass
class ThemeBranch:
    """A parent theme as the report lists it: its label, size and sentiment, and its live children."""

    label: str
    size: int
    mean_sentiment: float | None
    child_records: list[Theme]


def theme_tree(topics: list[Theme], parents: list[ParentTheme]) -> list[ThemeBranch]:
    """Parent themes (largest first), each with its live child themes (largest first)."""
    by_id = {t.id: t for t in topics}
    tree = []
    for parent in sorted(parents, key=lambda p: -int(p.size)):
        children = sorted((by_id[c] for c in parent.children if c in by_id), key=lambda t: -int(t.size))
        if children:
            tree.append(ThemeBranch(parent.label, parent.size, parent.mean_sentiment, children))
    return tree


def _context(cycle: CycleResult) -> dict:
    counts = cycle.manifest.counts
    rejects = cycle.rejects["reason"].value_counts().sort_index()
    topics = [t for t in cycle.topics if t.status != "fading"]
    confirmed = [p for p in cycle.proposals if p.confirmed]
    segments = cycle.segments
    outcome_cols = [c for c in segments.columns if c.startswith("outcome:") and c.endswith(":mean")]
    unassigned = float((cycle.feedback["topic_id"] < 0).mean()) if len(cycle.feedback) else 0.0
    labels = cycle.feedback["sentiment_label"].value_counts(normalize=True)
    score_agreement = None
    if cycle.feedback["score"].notna().sum() >= 10:
        both = cycle.feedback.dropna(subset=["score"])
        rho = spearmanr(both["score"], both["sentiment_score"]).statistic
        score_agreement = {"n": len(both), "spearman": float(rho)}
    context = {
        "title": "Segment refinement report",
        "created": cycle.manifest.started,
        "period": period(cycle.feedback[S.TIMESTAMP]) if S.TIMESTAMP in cycle.feedback.columns else None,
        "run_dir": str(cycle.out_dir),
        "counts": counts,
        "rejects": [(reason, int(n)) for reason, n in rejects.items()],
        "warnings": cycle.manifest.warnings,
        "topics": topics,
        "theme_tree": theme_tree(topics, cycle.parents),
        "fading": [t for t in cycle.topics if t.status == "fading"],
        "segments": segments.to_dict("records"),
        "outcomes": [c.split(":")[1] for c in outcome_cols],
        "binary_outcomes": {c.split(":")[1]: _is_binary(cycle.customers, c.split(":")[1]) for c in outcome_cols},
        "proposals": cycle.proposals,
        "confirmed": confirmed,
        "stopped": cycle.stopped,
        "method": cycle.method,
        "manifest": cycle.manifest,
        "unassigned": unassigned,
        "sentiment_shares": {k: float(labels.get(k, 0.0)) for k in ("negative", "neutral", "positive")},
        "score_agreement": score_agreement,
        "languages": _languages(cycle),
        "theme_space": cycle.manifest.theme_space or {},
        "comparison": cycle.comparison,
        "topic_method": cycle.manifest.topic_method or {},
        "llm_summary": cycle.llm_summary,  # optional, machine-written, already redacted; escaped like all text
        "n_segments": len(segments),
        "respondents": int(segments["respondents"].sum()) if len(segments) else 0,
        "customers": int(segments["customers"].sum()) if len(segments) else 0,
        "insights": cycle.insights,  # refine.insights.stage.CycleInsights (templates/insights.*.j2)
        "score_label": _score_label(cycle),
        "small_n": _small_n(cycle),
    }
    context["small_topics"] = sum(1 for t in topics if t.size < context["small_n"])
    customers = cycle.customers
    constant = [o for o in context["outcomes"] if o in customers and customers[o].nunique(dropna=True) < 2]
    context["ab_commands"] = {
        p.id: ab_command(p, context["run_dir"], context["outcomes"], constant) for p in cycle.proposals
    }
    return context


def _languages(cycle: CycleResult) -> list[dict]:
    """Per language: comments, share, mean sentiment, negative / positive shares; empty for a one-language month."""
    result = cycle.sentiment
    if result is None:
        if "language" not in cycle.feedback.columns:
            return []
        result = SentimentResult.from_json({}, cycle.feedback)
    rows = result.by_language()
    return rows if len(rows) > 1 else []


def _small_n(cycle) -> int:
    """[report] small_n of the run's config (the default for a run written before the setting existed)."""
    config = cycle.manifest.config if hasattr(cycle.manifest, "config") else cycle.manifest.get("config")
    return int(((config or {}).get("report") or {}).get("small_n", SMALL_N))


def _score_label(cycle) -> str:
    config = (cycle.manifest.config if hasattr(cycle.manifest, "config") else cycle.manifest.get("config")) or {}
    return score_name((config.get("feedback") or {}).get("score_kind"))


def _is_binary(customers: pd.DataFrame, column: str) -> bool:
    return column in customers.columns and is_binary(customers[column].to_numpy(dtype=float))


def _environment():
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        fmt=fmt,
        pct=pct,
        md=md_escape,
        md_code=md_code,
        headline=proposal_headline,
        summary=proposal_summary,
        describe=describe_comparison,
        followup=describe_followup,
        pval=pval,
        difference=difference,
        impact=impact,
        amount=amount,
        gap=gap,
        impact_md=impact_md,
        score_gap=score_gap,
        outcome_cell=outcome_cell,
        money=money,
        sql=where_clause,
    )
    return env


def where_clause(rule: str) -> str:
    """The rule as a SQL WHERE condition on the table's own column names ("" for a rule refine cannot parse)."""
    try:
        return rule_sql(rule)
    except RefineError:
        return ""


_MD_INLINE = re.compile(
    r"[`|~]"  # a backtick opens code, | ends a table cell, ~ strikes through: escaped wherever they stand
    r"|\\(?=[!-/:-@\[-`{-~])"  # a backslash that would escape the punctuation after it
    r"|\*(?!\s)|(?<!\s)\*"  # a * that could open or close emphasis (one between spaces cannot)
    r"|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])"  # a _ at a word's edge (churned_90d stays as it is)
    r"|\](?=[(\[:])"  # ]( ][ ]: make links, images and link definitions
    r"|<(?=[A-Za-z/!?])"  # raw HTML and autolinks
    r"|&(?=#?[0-9A-Za-z]+;)"  # an entity
)
# at the start of the text: a heading, a quote, a list item or a thematic break
_MD_LINE_START = re.compile(r"^(\s*)(#{1,6}(?=\s|$)|>|[-+*](?=\s|$)|[-_*=](?=[-_*=\s]*$))")
_MD_ORDERED = re.compile(r"^\s*\d{1,9}(?=[.)](\s|$))")  # "1. " would start an ordered list


def md_code(text: Any) -> str:
    """A code span that holds any text literally (CommonMark shows code spans as text, never as HTML)."""
    text = str(text).replace("\n", " ")
    fence = "`"
    while fence in text:
        fence += "`"
    return f"{fence} {text} {fence}"


def md_escape(text: Any) -> str:
    """Text that Markdown shows as written and that reads as plain text in the .md file.

    Only what Markdown would misread here is backslashed: `-1.5 pts [-4.1, +1.2]` stays as it is, while
    markup (`**x**`, `[a](b)`, `<b>`, a leading `# `) is shown, never rendered. One line: newlines become spaces.
    """
    text = _MD_INLINE.sub(lambda m: "\\" + m.group(0), str(text).replace("\r", " ").replace("\n", " "))
    ordered = _MD_ORDERED.match(text)
    if ordered:
        return text[: ordered.end()] + "\\" + text[ordered.end() :]
    return _MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text, count=1)


def _insight_charts(context: dict) -> dict:
    """The driver chart (score) and the score-change waterfall, when the cycle has them."""
    insights = context.get("insights")
    if insights is None:
        return {"drivers": "", "waterfall": ""}
    drivers = insights.drivers.for_measure("score")
    unit = drivers[0].unit if drivers else ""
    return {
        "drivers": Markup(
            driver_chart(drivers, f"Themes associated with {context['score_label']}", unit, context["small_n"])
        ),
        "waterfall": Markup(waterfall_chart(insights.attribution, small_n=context["small_n"])),
    }


def write_report(cycle: CycleResult) -> tuple[Path, Path]:
    """Write report.html and report.md into the run folder."""
    context = _context(cycle)
    env = _environment()
    charts = {
        "sentiment": Markup(sentiment_chart(cycle.segments, context["small_n"])),
        "heatmap": Markup(heatmap(cycle.segments, context["topics"], small_n=context["small_n"])),
        "impact": Markup(impact_chart(context["topics"], small_n=context["small_n"])),
        **_insight_charts(context),
    }
    html_text = env.get_template("report.html.j2").render(**context, charts=charts)
    md_env = _environment()
    md_env.autoescape = False
    md_text = md_env.get_template("report.md.j2").render(**context)
    html_path, md_path = cycle.out_dir / "report.html", cycle.out_dir / "report.md"
    write_text(html_path, html_text)
    write_text(md_path, md_text)
    return html_path, md_path
