"""Inline SVG charts for the insights: driver chart, score-change waterfall, and the history trend.

Same conventions as refine/report/render.py's charts: self-contained SVG strings, every label escaped.
"""

from __future__ import annotations

import html
import math


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# grey hatching for a bar resting on few answers (the heatmap's "small-n" pattern, under an id of its own)
HATCH = (
    '<defs><pattern id="small-n-bar" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4f4f4"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#c8c8c8" stroke-width="2"/></pattern></defs>'
)


def driver_chart(drivers: list, title: str = "Theme drivers", unit: str = "", small_n: int = 30) -> str:
    """Frequency (share of respondents mentioning the theme) x adjusted association, CIs as whiskers.

    A theme mentioned by fewer than `small_n` respondents is drawn hollow and faded, "n=…" in its tooltip.
    """
    rows = [d for d in drivers if math.isfinite(d.effect) and math.isfinite(d.ci_low) and math.isfinite(d.ci_high)]
    if not rows:
        return ""
    width, height, left, right, top, bottom = 720, 380, 70, 20, 20, 50
    max_share = max(max(d.share for d in rows) * 1.1, 0.05)
    low = min(min(d.ci_low for d in rows), 0.0)
    high = max(max(d.ci_high for d in rows), 0.0)
    pad = (high - low) * 0.08 or 1.0
    low, high = low - pad, high + pad
    x = lambda v: left + v / max_share * (width - left - right)  # noqa: E731
    y = lambda v: top + (high - v) / (high - low) * (height - top - bottom)  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_esc(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">',
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>',
        f'<text x="{(left + width - right) / 2:.0f}" y="{height - 10}" font-size="12" text-anchor="middle">'
        f"share of respondents mentioning the theme</text>",
        f'<text transform="translate(14,{(top + height - bottom) / 2:.0f}) rotate(-90)" font-size="12" '
        f'text-anchor="middle">adjusted association{(" (" + _esc(unit) + ")") if unit else ""}</text>',
    ]
    for tick in range(0, 5):
        share = max_share * tick / 4
        parts.append(
            f'<text x="{x(share):.1f}" y="{height - bottom + 16}" font-size="11" text-anchor="middle" '
            f'fill="#555">{100 * share:.0f}%</text>'
        )
    for level in (low + pad, 0.0, high - pad):
        parts.append(
            f'<text x="{left - 6}" y="{y(level) + 4:.1f}" font-size="11" text-anchor="end" fill="#555">{level:+.1f}</text>'
        )

    def significant(d) -> bool:
        return d.p_adjusted < 0.05 if math.isfinite(d.p_adjusted) else False

    for d in sorted(rows, key=lambda d: d.effect):
        colour = ("#c0392b" if d.effect < 0 else "#27ae60") if significant(d) else "#95a5a6"
        cx, cy = x(d.share), y(d.effect)
        small = int(d.respondents) < small_n
        fill = f'fill="#fff" stroke="{colour}" stroke-width="2" opacity="0.5"' if small else f'fill="{colour}"'
        parts.append(
            f'<line x1="{cx:.1f}" y1="{y(d.ci_low):.1f}" x2="{cx:.1f}" y2="{y(d.ci_high):.1f}" stroke="{colour}" '
            f'stroke-width="2" opacity="{0.3 if small else 0.6}"/><circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" {fill}>'
            f"<title>{_esc(d.label)}: {d.effect:+.2f} [{d.ci_low:+.2f}, {d.ci_high:+.2f}], "
            f"{100 * d.share:.0f}% of respondents (n={int(d.respondents)}{', few' if small else ''})</title></circle>"
        )
    # names where they fit: significant themes first, then the largest effects; a name that would
    # overlap one already written is left to the point's tooltip (a pile of names reads as nothing)
    placed: list[tuple[float, float, float]] = []
    for d in sorted(rows, key=lambda d: (not significant(d), -abs(d.effect) * d.share)):
        label = _short(d.label, 28)
        cx, cy = x(d.share) + 8, y(d.effect) + 4
        w = 6.2 * len(label)
        if cx + w > width:  # near the right edge the name goes to the left of its point
            cx = x(d.share) - 8 - w
        if any(abs(cy - py) < 12 and cx < px + pw and px < cx + w for px, py, pw in placed):
            continue
        placed.append((cx, cy, w))
        parts.append(f'<text x="{cx:.1f}" y="{cy:.1f}" font-size="11">{_esc(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def waterfall_chart(attribution, limit: int = 10, small_n: int = 30) -> str:
    """Score last cycle -> per-theme contributions (largest first, the rest summed) -> score now.

    A contribution resting on fewer than `small_n` scored comments in a cycle (see `Attribution.thin`) is
    hatched and faded, its label marked "n=before→now, few".
    """
    if attribution is None:
        return ""
    contributions = list(attribution.contributions)
    shown, rest = contributions[:limit], contributions[limit:]
    steps = []
    for c in shown:
        before, now = attribution.comments(c)
        small = attribution.thin(c, small_n)
        steps.append((f"{_short(c.label, 18)} (n={before}→{now}{', few' if small else ''})", c.total, small))
    if rest:
        steps.append((f"{len(rest)} other themes", sum(c.total for c in rest), False))
    bars = [("last cycle", attribution.score_before, "total", False)]
    bars += [(label, value, "step", small) for label, value, small in steps]
    bars.append(("this cycle", attribution.score_now, "total", False))
    width, row_h, left, right = 720, 24, 270, 70
    height = 20 + row_h * len(bars)
    levels = [attribution.score_before]
    for _, value, _ in steps:
        levels.append(levels[-1] + value)
    low = min(min(levels), attribution.score_now, 0.0)
    high = max(max(levels), attribution.score_now, 0.0)
    span = (high - low) or 1.0
    x = lambda v: left + (v - low) / span * (width - left - right)  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Score change by theme" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">',
        f'<line x1="{x(0):.1f}" y1="0" x2="{x(0):.1f}" y2="{height}" stroke="#ccc"/>',
    ]
    if any(small for *_, small in bars):
        parts.append(HATCH)
    running = attribution.score_before
    for i, (label, value, kind, small) in enumerate(bars):
        yy = 10 + i * row_h
        if kind == "total":
            a, b, colour, text = 0.0, value, "#34495e", f"{value:+.1f}"
        else:
            a, b = running, running + value
            running = b
            colour, text = ("#27ae60" if value >= 0 else "#c0392b"), f"{value:+.2f}"
        x0, x1 = sorted((x(a), x(b)))
        fill = f'fill="url(#small-n-bar)" stroke="{colour}" opacity="0.6"' if small else f'fill="{colour}"'
        grey = ' fill="#999"' if small else ""
        parts.append(
            f'<text x="{left - 8}" y="{yy + 14}" font-size="12" text-anchor="end"{grey}>{_esc(label)}</text>'
            f'<rect x="{x0:.1f}" y="{yy}" width="{max(x1 - x0, 1):.1f}" height="18" {fill}/>'
            f'<text x="{x1 + 4:.1f}" y="{yy + 14}" font-size="11">{text}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def trend_chart(labels: list[str], series: dict[str, list[float | None]], title: str) -> str:
    """One line per series over the cycles (None = no value that cycle), with a legend."""
    values = [v for line in series.values() for v in line if v is not None and math.isfinite(v)]
    if not values or len(labels) < 1:
        return ""
    palette = ("#2980b9", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#2c3e50")
    width, height, left, right, top, bottom = 720, 300, 60, 190, 20, 40
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or 1.0
    low, high = low - pad, high + pad
    n = len(labels)
    x = lambda i: left + (i / (n - 1) if n > 1 else 0.5) * (width - left - right)  # noqa: E731
    y = lambda v: top + (high - v) / (high - low) * (height - top - bottom)  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_esc(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#999"/>',
    ]
    for tick in (low + pad, (low + high) / 2, high - pad):
        parts.append(
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end" fill="#555">{tick:.2f}</text>'
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" stroke="#eee"/>'
        )
    for i, label in enumerate(labels):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - bottom + 16}" font-size="11" text-anchor="middle">'
            f"{_esc(_short(label, 14))}</text>"
        )
    for k, (name, line) in enumerate(series.items()):
        colour = palette[k % len(palette)]
        points = [(x(i), y(v)) for i, v in enumerate(line) if v is not None and math.isfinite(v)]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py in points:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}"/>')
        ly = top + 16 * k
        parts.append(
            f'<rect x="{width - right + 10}" y="{ly}" width="12" height="4" fill="{colour}"/>'
            f'<text x="{width - right + 28}" y="{ly + 6}" font-size="11">{_esc(_short(name, 26))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
