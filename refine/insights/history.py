"""The trend across cycles: score, sentiment and the top themes per run, and what each cycle found new.

``refine history RUNS`` lists the cycles (refine.segments.decisions.history) and, with this module, the trend:
per cycle the score (NPS / CSAT top-2-box / mean rating, read as the report does), the mean
sentiment and the negative share, the share of comments on each of the largest themes, and the
emerging / fading themes that cycle's run found against its previous ones (``insights.json``; for
a run without it, the same test on the stored topic ids of consecutive runs). ``--chart`` writes the
trend as a self-contained HTML page with inline SVG charts.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from refine import schemas as S
from refine.errors import RefineError
from refine.insights.charts import trend_chart
from refine.insights.drivers import score_name, score_points, theme_shifts
from refine.insights.stage import read_insights
from refine.segments.decisions import history

TOP_THEMES = 6


@dataclass
class CyclePoint:
    folder: str
    started: str
    comments: int
    score_kind: str | None
    score: float | None
    sentiment: float | None
    negative_share: float | None
    theme_shares: dict[int, float] = field(default_factory=dict)
    emerging: list[str] = field(default_factory=list)
    fading: list[str] = field(default_factory=list)
    shifts_from: str = ""  # insights.json | stored topic ids | ""

    def to_json(self) -> dict:
        out = asdict(self)
        out["theme_shares"] = {str(k): v for k, v in self.theme_shares.items()}
        return out


@dataclass
class Trend:
    cycles: list[CyclePoint]
    themes: dict[int, str]  # the top themes followed, id -> label (latest label)

    def to_json(self) -> dict:
        return {"cycles": [c.to_json() for c in self.cycles], "themes": {str(k): v for k, v in self.themes.items()}}


def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def trend(root: str | Path) -> Trend:
    """Score, sentiment and the top themes of every finished run under ``root``, oldest first."""
    cycles = history(root)
    points: list[CyclePoint] = []
    labels: dict[int, str] = {}
    previous_topics: np.ndarray | None = None
    for cycle in cycles:
        folder = cycle.folder
        try:
            feedback = pd.read_parquet(folder / "feedback.parquet")
            manifest = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        except Exception:
            continue  # a damaged folder is not a point of the trend
        kind = ((manifest.get("config") or {}).get("feedback") or {}).get("score_kind")
        points_scored = score_points(feedback[S.SCORE], kind) if S.SCORE in feedback else np.array([])
        scored = points_scored[np.isfinite(points_scored)] if len(points_scored) else points_scored
        topics = feedback[S.TOPIC_ID].to_numpy(dtype=int) if S.TOPIC_ID in feedback else np.array([], dtype=int)
        if S.TOPIC_LABEL in feedback:
            for theme, label in feedback[[S.TOPIC_ID, S.TOPIC_LABEL]].drop_duplicates().itertuples(index=False):
                if int(theme) >= 0:
                    labels[int(theme)] = str(label)
        shares = {int(t): float((topics == t).mean()) for t in np.unique(topics) if t >= 0} if len(topics) else {}
        point = CyclePoint(
            folder=str(folder),
            started=cycle.started,
            comments=len(feedback),
            score_kind=kind,
            score=_finite(scored.mean()) if len(scored) else None,
            sentiment=_finite(feedback[S.SENTIMENT_SCORE].mean()) if len(feedback) else None,
            negative_share=_finite((feedback[S.SENTIMENT_LABEL] == "negative").mean()) if len(feedback) else None,
            theme_shares=shares,
        )
        insights = read_insights(folder)
        if insights is not None and insights.what_is_new is not None:
            point.emerging = [s.label for s in insights.what_is_new.emerging]
            point.fading = [s.label for s in insights.what_is_new.fading]
            point.shifts_from = "insights.json"
        elif previous_topics is not None and len(topics):
            shifts, _ = theme_shifts(previous_topics, topics, labels)
            point.emerging = [s.label for s in shifts if s.direction == "emerging"]
            point.fading = [s.label for s in shifts if s.direction == "fading"]
            point.shifts_from = "stored topic ids"
        previous_topics = topics
        points.append(point)
    latest = points[-1].theme_shares if points else {}
    top = sorted(latest, key=lambda t: (-latest[t], t))[:TOP_THEMES]
    return Trend(points, {t: labels.get(t, f"theme {t}") for t in top})


def _cycle_name(point: CyclePoint) -> str:
    return Path(point.folder).name or point.started[:10]


def trend_page(result: Trend) -> str:
    """A self-contained HTML page: score, sentiment and top-theme trend charts, and what each cycle found new."""
    if not result.cycles:
        raise RefineError("no finished runs to draw")
    names = [_cycle_name(p) for p in result.cycles]
    kind = result.cycles[-1].score_kind
    score = trend_chart(names, {score_name(kind): [p.score for p in result.cycles]}, "Score by cycle")
    sentiment = trend_chart(
        names,
        {
            "mean sentiment": [p.sentiment for p in result.cycles],
            "negative share": [p.negative_share for p in result.cycles],
        },
        "Sentiment by cycle",
    )
    themes = trend_chart(
        names,
        {label: [100 * p.theme_shares.get(t, 0.0) for p in result.cycles] for t, label in result.themes.items()},
        "Share of comments (%) on the largest themes",
    )
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{p.comments:,}</td><td>{'' if p.score is None else f'{p.score:+.1f}'}</td>"
        f"<td>{'' if p.sentiment is None else f'{p.sentiment:+.2f}'}</td>"
        f"<td>{html.escape(', '.join(p.emerging)) or '-'}</td><td>{html.escape(', '.join(p.fading)) or '-'}</td>"
        f"<td>{html.escape(p.shifts_from)}</td></tr>"
        for n, p in zip(names, result.cycles)
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>refine history</title>'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        "<style>body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;width:100%;font-size:14px}td,th{border-bottom:1px solid #ddd;padding:4px 6px;"
        "text-align:left}</style></head><body><h1>Cycles over time</h1>"
        f"<h2>{html.escape(score_name(kind))}</h2>{score}<h2>Sentiment</h2>{sentiment}"
        f"<h2>Largest themes (as of the latest cycle)</h2>{themes}"
        "<h2>What each cycle found new</h2><table><tr><th>cycle</th><th>comments</th><th>score</th><th>sentiment</th>"
        f"<th>emerging</th><th>fading</th><th>tested on</th></tr>{rows}</table></body></html>\n"
    )
