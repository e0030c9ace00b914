"""Dates read per column, not per cell: one column is either day-first or month-first.

A numeric date such as 01/11/2026 says nothing by itself; its column does. A value whose first part
is over 12 (19/11/2026) proves the column day-first, one whose second part is over 12 (11/19/2026)
proves it month-first. A column with proofs of both mixes two formats (two exports concatenated):
each proven value is read its own way, the rest month-first, and a warning says so. A column with no
proof either way (every value <= 12/12) is read month-first (pandas' and the US convention) with a
warning that names `[feedback] timestamp_format`. A strptime pattern given there (or with
`--timestamp-format` on `ab analyze`) overrides all of this. Year-first values (ISO 8601) and dates
with month names are never ambiguous and are read as they are.
"""

from __future__ import annotations

import re
import warnings as _warnings

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from refine.errors import RefineError

# day and month in either order, then a 2- or 4-digit year, then an optional time of day
NUMERIC_DATE = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})((?:[ T]).*)?$")
_PARTS = r"^(?P<a>\d{1,2})(?P<s1>[/.\-])(?P<b>\d{1,2})(?P<s2>[/.\-])(?P<year>\d{4}|\d{2})(?P<rest>[ T].*)?$"
DAY_FIRST = "day-first"
MONTH_FIRST = "month-first"
DEFAULT_ORDER = MONTH_FIRST  # an ambiguous column (every value <= 12/12) is read this way, with a warning


def date_order(values: pd.Series) -> tuple[str | None, pd.DataFrame]:
    """(day-first | month-first | "mixed" | None when nothing proves it, the numeric dates' parts).

    The parts frame has columns a, b, year, rest (a and b as numbers) for the values that are numeric
    dates (index kept); other values are absent from it.
    """
    text = values.astype("string").str.strip()
    # Arrow's RE2 has no backreference: both separators are captured, and must be the same
    found = pc.extract_regex(pa.array(text, type=pa.string(), from_pandas=True), _PARTS)
    parts = pd.DataFrame(
        {name: found.field(name).to_numpy(zero_copy_only=False) for name in ("a", "s1", "b", "s2", "year", "rest")},
        index=text.index,
    )
    matched = pc.is_valid(found).to_numpy(zero_copy_only=False)
    parts = parts[matched & (parts["s1"] == parts["s2"]).fillna(False).to_numpy(dtype=bool)]
    if parts.empty:
        return None, pd.DataFrame(columns=["a", "b", "year", "rest"])
    frame = pd.DataFrame(
        {
            "a": parts["a"].astype(int),
            "b": parts["b"].astype(int),
            "year": parts["year"].astype(str),
            "rest": parts["rest"].fillna("").astype(str),
        },
        index=parts.index,
    )
    day_first = bool(((frame["a"] > 12) & (frame["b"] <= 12)).any())
    month_first = bool(((frame["b"] > 12) & (frame["a"] <= 12)).any())
    if day_first and month_first:
        return "mixed", frame
    return (DAY_FIRST if day_first else MONTH_FIRST if month_first else None), frame


def _iso(frame: pd.DataFrame, day_first: pd.Series) -> pd.Series:
    """The numeric dates rewritten year-first, so that nothing downstream guesses an order."""
    day = frame["a"].where(day_first, frame["b"])
    month = frame["b"].where(day_first, frame["a"])
    year = frame["year"]
    short = year.str.len() == 2
    if short.any():  # as strptime's %y: 69-99 are the 1900s, 00-68 the 2000s
        year = year.where(~short, ("20" + year).where(year < "69", "19" + year))
    pad = lambda part: part.astype(str).str.zfill(2)  # noqa: E731
    return year + "-" + pad(month) + "-" + pad(day) + frame["rest"]


def _parse(text: pd.Series) -> pd.Series:
    """Each value read on its own (ISO 8601 first, then any other spelling pandas knows); NaT if none."""
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    retry = (parsed.isna() & text.notna() & (text != "")).fillna(False).astype(bool)
    if retry.any():
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore", UserWarning)
            parsed[retry] = pd.to_datetime(text[retry], errors="coerce", utc=True, format="mixed")
    return parsed


def read_dates(
    values: pd.Series,
    *,
    column: str,
    timestamp_format: str | None = None,
    setting: str = "timestamp_format",
    what: str = "timestamp column",
) -> tuple[pd.Series, list[str]]:
    """UTC datetimes for a column of date text (NaT where blank or unreadable), and warnings about its order.

    Args:
        values: the column's cells as text.
        column: its name, for the warnings.
        timestamp_format: a strptime pattern that overrides the per-column reading.
        setting: how the user sets that pattern, named in the warnings ("" where there is none).
        what: what the column is, for the warnings.
    """
    fix = f"set {setting} (a strptime pattern such as '%d/%m/%Y')" if setting else "export them year-first (2026-11-01)"
    text = values.astype("string").str.strip()
    if timestamp_format:
        if "%" not in timestamp_format:
            raise RefineError(
                f"{setting} {timestamp_format!r} is not a strptime pattern (write dd/mm/yyyy as '%d/%m/%Y')"
            )
        try:
            return pd.to_datetime(text, errors="coerce", utc=True, format=timestamp_format), []
        except ValueError as exc:  # a pattern strptime cannot use
            raise RefineError(f"{setting} {timestamp_format!r} is not a date pattern ({exc})") from None
    notes: list[str] = []
    out = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")  # the common case, in one pass
    rest = text[out.isna() & text.notna() & (text != "")]
    if rest.empty:
        return out, notes
    order, frame = date_order(rest)
    others = rest.index.difference(frame.index)
    if len(others):
        out[others] = _parse(rest[others])
    if frame.empty:
        return out, notes
    if order == "mixed":
        day_first = frame["a"] > 12
        one = text[frame.index[day_first & (frame["b"] <= 12)]].iloc[0]
        other = text[frame.index[(frame["b"] > 12) & (frame["a"] <= 12)]].iloc[0]
        unsure = int(((frame["a"] <= 12) & (frame["b"] <= 12) & (frame["a"] != frame["b"])).sum())
        notes.append(
            f"{what} {column!r} mixes day-first dates (e.g. {one!r}) and month-first dates "
            f"(e.g. {other!r}): two exports joined? {unsure} dates that could be either were read "
            f"{DEFAULT_ORDER}; {fix} to say which"
        )
    else:
        day_first = pd.Series((order or DEFAULT_ORDER) == DAY_FIRST, index=frame.index)
        if order is None and bool((frame["a"] != frame["b"]).any()):
            example = text[frame.index[0]]
            notes.append(
                f"{what} {column!r}: no date proves day-first or month-first (every day and month "
                f"is 12 or less, e.g. {example!r}); read {DEFAULT_ORDER} (01/11 = 11 January); {fix} if that is wrong"
            )
    out[frame.index] = _parse(_iso(frame, day_first))
    return out, notes
