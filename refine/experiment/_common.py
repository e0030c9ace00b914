"""What the A/B modules share: labels, numeric columns, column checks, JSON-safe values, number formats."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from refine.errors import RefineError
from refine.io.privacy import redact
from refine.stats import is_binary  # noqa: F401  (one is_binary for refine; re-exported for old imports)

ARMS = ("control", "treatment")
_ALL = None  # the segment key of the all-units cell


def _label_each(series: pd.Series) -> np.ndarray:
    present = series.notna().to_numpy()
    values = series.to_numpy(dtype=object)
    if pd.api.types.is_float_dtype(series) and present.any():
        numbers = series.to_numpy(dtype=float)[present]
        if np.all(np.mod(numbers, 1) == 0):
            values = values.copy()
            values[present] = numbers.astype("int64")
    return np.array([str(v).strip() if p else None for v, p in zip(values, present)], dtype=object)


def _label(series: pd.Series) -> pd.Series:
    """Values as text labels: 1.0 -> "1", True -> "True", missing stays missing (None).

    Each distinct value is labelled once (factorize first), so a 10M-row arm column costs one hash pass."""
    codes, uniques = pd.factorize(series)
    labels = _label_each(pd.Series(uniques))
    out = np.full(len(series), None, dtype=object)
    ok = codes >= 0
    out[ok] = labels[codes[ok]]
    return pd.Series(out, index=series.index, dtype="object")


def _label_codes(series: pd.Series) -> np.ndarray:
    """Integer codes that group values exactly as their text labels do (-1 = missing), without building the labels
    for numeric columns (distinct numbers have distinct labels)."""
    if pd.api.types.is_integer_dtype(series) and not series.hasnans:
        values = series.to_numpy()
        if len(values) and values.min() >= 0 and values.max() < 4 * len(values):
            return values.astype(np.int64, copy=False)  # small non-negative ids are their own codes
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        codes, _ = pd.factorize(series)
        return codes.astype(np.int64)
    codes, uniques = pd.factorize(series)
    labels, _ = pd.factorize(_label_each(pd.Series(uniques)))
    return np.where(codes >= 0, labels[np.maximum(codes, 0)], -1).astype(np.int64)


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
            example = redact(str(series[bad].iloc[0]))[:40]  # an error is printed: no phone in it
            raise RefineError(f"{what} column {name!r} is not numeric (e.g. {example!r})")
    if np.isinf(values.to_numpy()).any():
        raise RefineError(f"{what} column {name!r} holds infinite values")
    return values


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


def _fmt(value: float | None, binary: bool = False, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if binary:
        return f"{value * 100:+.2f} pp" if signed else f"{value * 100:.2f}%"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value * 100:+.2f}%"


def _seg_name(seg: str | None) -> str:
    return "all units" if seg is None else str(seg)
