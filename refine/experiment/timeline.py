"""Effects over time: the daily cumulative effect with its interval, and a novelty check (early vs late units).

Units are placed on the day of their timestamp (first exposure, UTC date). Day d's point uses every unit exposed
up to the end of day d, with its metric value as it is in the data: the view a team gets by rerunning the
analysis on each day's export. Sums per arm and day come from one bincount and a cumulative sum, so 30 daily
looks cost one pass over the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import pandas as pd
from scipy import stats

from refine.errors import RefineError
from refine.experiment import sequential
from refine.experiment._common import _finite
from refine.experiment.estimators import effect_from_moments, moments
from refine.io.dates import read_dates
from refine.io.privacy import redact

_DAY_NS = 86_400 * 10**9


def parse_days(
    values: pd.Series,
    column: str,
    as_of: str | None = None,
    timestamp_format: str | None = None,
    warnings: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(day code per row, -1 where missing or unparseable; mask of rows after ``as_of``; the day labels).

    Text timestamps are read per column (refine.io.dates: day-first or month-first decided from every value,
    ``timestamp_format`` overriding); an ambiguous or mixed column adds a line to ``warnings``.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        # naive times are read as UTC; aware ones converted (the int64 view of a datetime64 is UTC nanoseconds)
        parsed = values if values.dt.tz is None else values.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        text = values.astype("string").fillna("")
        parsed, notes = read_dates(text, column=column, timestamp_format=timestamp_format, setting="--timestamp-format")
        parsed = parsed.dt.tz_localize(None).astype("datetime64[ns]")
        if warnings is not None:
            warnings.extend(notes)
    ok = parsed.notna().to_numpy()
    if not ok.any():
        example = redact(str(values.dropna().iloc[0]))[:40] if values.notna().any() else "(all empty)"
        raise RefineError(f"timestamp column {column!r} holds no readable date or time (e.g. {example!r})")
    day = np.floor_divide(parsed.to_numpy("datetime64[ns]").view(np.int64), _DAY_NS)
    after = np.zeros(len(values), dtype=bool)
    if as_of is not None:
        cut = pd.to_datetime(str(as_of), errors="coerce", utc=True)
        if pd.isna(cut):
            raise RefineError(f"--as-of {as_of!r} is not a date (write it as YYYY-MM-DD)")
        after = ok & (day > cut.value // _DAY_NS)
    keep = ok & ~after
    if not keep.any():
        raise RefineError(f"no row of {column!r} is on or before the --as-of date {as_of}")
    first = int(day[keep].min())
    codes = np.where(keep, day - first, -1).astype(np.int64)
    n_days = int(codes.max()) + 1
    start = pd.Timestamp(first * _DAY_NS)
    labels = [str((start + pd.Timedelta(days=i)).date()) for i in range(n_days)]
    return codes, after, labels


@dataclass
class DailySeries:
    """Cumulative effect of one treatment arm on one metric, one entry per day."""

    metric: str
    arm: str
    days: list[str]
    n_control: list[int]
    n_treatment: list[int]
    abs_lift: list[float | None]
    fixed_ci: list[list[float | None]]
    sequential_ci: list[list[float | None]]
    p_value: list[float | None]
    p_sequential: list[float | None]
    interval: str = "fixed"

    def to_json(self) -> dict[str, Any]:
        return _finite(self.__dict__.copy())


class HalfEffect(TypedDict, total=False):
    """The effect among the units of one half of the days (empty when an arm had fewer than 2 units there)."""

    abs_lift: float
    ci: list[float]
    se: float
    n_control: int
    n_treatment: int


@dataclass
class NoveltyCheck:
    """Effect among units exposed in the first half of the days against those exposed in the second half."""

    metric: str
    arm: str
    split_day: str
    early: HalfEffect = field(default_factory=HalfEffect)
    late: HalfEffect = field(default_factory=HalfEffect)
    difference: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None  # over the novelty checks of one analysis (the analysis' correction)
    flagged: bool = False
    verdict: str = ""

    def to_json(self) -> dict[str, Any]:
        return _finite(self.__dict__.copy())


def day_grid(
    y: np.ndarray,
    d: np.ndarray | None,
    arm_codes: np.ndarray,
    day_codes: np.ndarray,
    n_arms: int,
    n_days: int,
    binary: bool = False,
) -> dict[str, np.ndarray]:
    """Sums per arm and day, shape (arms, days), from one bincount (rows with day code -1 left out)."""
    keep = day_codes >= 0
    if keep.all():
        m = moments(arm_codes * n_days + day_codes, n_arms * n_days, y, d, binary=binary)
    else:
        m = moments(
            arm_codes[keep] * n_days + day_codes[keep],
            n_arms * n_days,
            y[keep],
            None if d is None else d[keep],
            binary=binary,
        )
    return {k: v.reshape(n_arms, n_days) for k, v in m.items()}


def daily_series(
    *,
    metric: str,
    kind: str,
    arms: list[str],
    days: list[str],
    level: float,
    tuning: float,
    interval: str,
    grid: dict[str, np.ndarray],
) -> list[DailySeries]:
    """One DailySeries per treatment arm (arm code 0 is control), from ``day_grid``'s sums per arm x day."""
    n_arms = len(arms)
    cum = {k: np.cumsum(v, axis=1) for k, v in grid.items()}
    control = {k: v[0] for k, v in cum.items()}
    out = []
    alpha = 1 - level
    for a in range(1, n_arms):
        treat = {k: v[a] for k, v in cum.items()}
        enough = (treat["n"] >= 2) & (control["n"] >= 2)
        with np.errstate(all="ignore"):
            res = effect_from_moments(treat, control, kind, level)
            n_total = treat["n"] + control["n"]
            s_lo, s_hi = sequential.interval(res["diff"], res["se"], n_total, alpha, tuning)
            s_p = sequential.p_value(res["diff"], res["se"], n_total, alpha, tuning)

        def col(values: np.ndarray, enough: np.ndarray = enough) -> list[float | None]:
            return [float(v) if ok and np.isfinite(v) else None for v, ok in zip(values, enough)]

        out.append(
            DailySeries(
                metric=metric,
                arm=arms[a],
                days=list(days),
                n_control=[int(v) for v in control["n"]],
                n_treatment=[int(v) for v in treat["n"]],
                abs_lift=col(res["diff"]),
                fixed_ci=[list(p) for p in zip(col(res["lo"]), col(res["hi"]))],
                sequential_ci=[list(p) for p in zip(col(s_lo), col(s_hi))],
                p_value=col(res["p"]),
                p_sequential=col(s_p),
                interval=interval,
            )
        )
    return out


def novelty_checks(
    *,
    metric: str,
    kind: str,
    arms: list[str],
    days: list[str],
    level: float,
    grid: dict[str, np.ndarray],
) -> list[NoveltyCheck]:
    """Early (first half of the days) vs late units: z-test of the difference of the two effects.

    A novelty (or primacy) effect shows as an early effect that differs from the late one; flagged when that
    difference is significant at 1 - level. Needs at least 4 days."""
    if len(days) < 4:
        return []
    half = len(days) // 2
    n_arms = len(arms)
    grid = {k: np.stack([v[:, :half].sum(1), v[:, half:].sum(1)], axis=1) for k, v in grid.items()}
    out = []
    for a in range(1, n_arms):
        parts: dict[str, HalfEffect | None] = {}
        for j, name in ((0, "early"), (1, "late")):
            mt = {k: v[a, j] for k, v in grid.items()}
            mc = {k: v[0, j] for k, v in grid.items()}
            if min(mt["n"], mc["n"]) < 2:
                parts[name] = None
                continue
            with np.errstate(all="ignore"):
                r = effect_from_moments(mt, mc, kind, level)
            parts[name] = {
                "abs_lift": float(r["diff"]),
                "ci": [float(r["lo"]), float(r["hi"])],
                "se": float(r["se"]),
                "n_control": int(mc["n"]),
                "n_treatment": int(mt["n"]),
            }
        check = NoveltyCheck(metric=metric, arm=arms[a], split_day=days[half])
        e, lt = parts["early"], parts["late"]
        if e is None or lt is None:
            check.verdict = "not enough units in one half to compare early and late effects"
        else:
            se = float(np.hypot(e["se"], lt["se"]))
            check.difference = e["abs_lift"] - lt["abs_lift"]
            check.p_value = float(2 * stats.norm.sf(abs(check.difference) / se)) if se > 0 else None
            check.flagged = check.p_value is not None and check.p_value < 1 - level
            if check.flagged:
                kind_of = "novelty" if abs(e["abs_lift"]) > abs(lt["abs_lift"]) else "primacy (slow start)"
                check.verdict = (
                    f"the effect among units exposed before {days[half]} differs from the effect among later units "
                    f"(p = {check.p_value:.3g}): possible {kind_of} effect; judge on the late units or run longer"
                )
            else:
                check.verdict = f"early and late units show no significant difference (p = {check.p_value:.3g})"
        check.early, check.late = e or HalfEffect(), lt or HalfEffect()
        out.append(check)
    return out
