"""Limits on what one run may cost, checked at ingest before any expensive stage.

Every dimension that multiplies the work of a cycle has a limit in ``[limits]`` (text length has
``[feedback] max_text_chars``, which truncates and counts instead of refusing). A table over a
limit is refused in one line that names the file or column and the setting that raises it, within
seconds of reading it, instead of running for hours without saying why.

The customer columns are classified once, here, so the limits and the proposal search agree on what
an attribute is: numbers, true/false, dates (a datetime column, or text that is ISO, US or EU dates), a
category with a countable set of levels, or one of two kinds the search skips rather than refuses:
id-like columns (nearly one value per customer) and free text (long strings). ``classify_column`` is
the one definition of all of them; refine.segments.search bins each column by the kind it returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from refine.errors import RefineError
from refine.io.dates import NUMERIC_DATE, read_dates

if TYPE_CHECKING:
    from refine.io.config import RefineConfig

ID_LIKE_SHARE = 0.9  # a text column with distinct values for at least this share of its rows is an id
ID_LIKE_MIN_ROWS = 20  # below this many filled rows nothing counts as id-like: a tiny table says too little
FREE_TEXT_CHARS = 40  # a text column whose values' median length exceeds this is free text, not a category

NUMERIC = "numeric"
BOOLEAN = "boolean"
DATE = "date"
CATEGORY = "category"
ID_LIKE = "id-like"
FREE_TEXT = "free text"


@dataclass
class ColumnKinds:
    """What each customer attribute is, with the number of distinct values of each text column."""

    kinds: dict[str, str] = field(default_factory=dict)  # numeric | boolean | date | category | id-like | free text
    levels: dict[str, int] = field(default_factory=dict)  # text column -> distinct non-blank values

    def of(self, kind: str) -> list[str]:
        """The columns of one kind, in table order."""
        return [column for column, k in self.kinds.items() if k == kind]

    @property
    def searchable(self) -> list[str]:
        """Columns a rule can be built on: numbers, true/false, dates and categories (not ids or free text)."""
        return [column for column, k in self.kinds.items() if k in (NUMERIC, BOOLEAN, DATE, CATEGORY)]

    @property
    def skipped(self) -> list[str]:
        """Id-like and free-text columns: kept in the table, never searched for rules."""
        return [column for column, k in self.kinds.items() if k in (ID_LIKE, FREE_TEXT)]


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?)?$")


def _is_text(values: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))


def date_values(values: pd.Series) -> pd.Series | None:
    """Datetimes for a date column (datetime dtype, or text that is dates nearly everywhere), else None.

    Text dates are ISO 8601, or day/month/year in either order (31/12/2026, 12/31/2026, 31.12.26), the
    order decided from the whole column as refine.io.dates reads feedback timestamps.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_convert("UTC").dt.tz_localize(None)
        return out
    if not _is_text(values):
        return None
    text = values.astype("string").str.strip()
    present = text[text.notna() & (text != "")]
    if present.empty:
        return None
    sample = present.iloc[:2000]
    iso = sample.str.match(_ISO_DATE)
    if iso.all():
        parsed = pd.to_datetime(text.where(text != ""), errors="coerce", utc=True, format="ISO8601")
    elif (iso | sample.str.match(NUMERIC_DATE)).all():  # US / EU dates: the order decided per column
        parsed, _ = read_dates(text.fillna(""), column=str(values.name))
    else:
        return None
    if parsed[text.notna() & (text != "")].isna().mean() > 0.01:
        return None
    return parsed.dt.tz_localize(None)


def classify_column(values: pd.Series) -> tuple[str, int]:
    """(kind, distinct non-blank values) of one typed customer column (see the module docstring)."""
    if pd.api.types.is_bool_dtype(values) or str(values.dtype) == "boolean":
        return BOOLEAN, int(values.nunique(dropna=True))
    if pd.api.types.is_datetime64_any_dtype(values):
        return DATE, int(values.nunique(dropna=True))
    if pd.api.types.is_numeric_dtype(values):
        return NUMERIC, int(values.nunique(dropna=True))
    text = values.astype(str)
    filled = text[values.notna().to_numpy() & (text.str.strip() != "").to_numpy()]
    distinct = int(filled.nunique())
    if date_values(values) is not None:
        return DATE, distinct
    # free text first: notes are mostly distinct too, but they are words, not codes
    if len(filled) and float(filled.str.len().median()) > FREE_TEXT_CHARS:
        return FREE_TEXT, distinct
    if len(filled) >= ID_LIKE_MIN_ROWS and distinct >= ID_LIKE_SHARE * len(filled):
        return ID_LIKE, distinct
    return CATEGORY, distinct


def classify_columns(customers: pd.DataFrame, attributes: list[str]) -> ColumnKinds:
    """Classify each attribute column of a typed customer table (as ingest returns it)."""
    out = ColumnKinds()
    for column in attributes:
        kind, levels = classify_column(customers[column])
        out.kinds[column] = kind
        if kind not in (NUMERIC, BOOLEAN):
            out.levels[column] = levels
    return out


def _n(value: int) -> str:
    return f"{value:,}"


def check_rows(rows: int, *, table: str, config: RefineConfig, where: str | None = None) -> None:
    """Refuse a feedback or customer file with more rows than its `[limits]` setting allows."""
    key = f"max_{table}_rows"
    limit = getattr(config.limits, key)
    if rows > limit:
        raise RefineError(
            f"the {table} file has {_n(rows)} rows, more than [limits] {key} = {_n(limit)}; "
            f"raise that setting to run it",
            where=where,
        )


def check_attribute_count(columns: list[str], config: RefineConfig, where: str | None = None) -> None:
    """Refuse a customer table with more attribute columns than `[limits] max_attributes`, before typing them."""
    limit = config.limits.max_attributes
    if len(columns) > limit:
        raise RefineError(
            f"the customer table has {_n(len(columns))} attribute columns, more than [limits] max_attributes = "
            f"{_n(limit)}; list the columns rules should not use in [customers] exclude, or raise that setting",
            where=where,
        )


def check_customers(
    customers: pd.DataFrame, attributes: list[str], config: RefineConfig, where: str | None = None
) -> ColumnKinds:
    """Check the typed customer table against `[limits]`; return the classification of its attributes.

    Args:
        customers: the customer table as ingest types it (original column names).
        attributes: its attribute columns (the segment column included, as ingest lists them).
        config: the run's config; its `[limits]` and `[customers]` sections are read.
        where: the file, for the message.

    Returns:
        ColumnKinds of the attributes other than the segment column.

    Raises:
        RefineError naming the column and the setting that raises the limit: too many distinct
        segments (`max_segment_values`), too many attribute columns (`max_attributes`), or a
        category with too many levels (`max_attribute_levels`; id-like and free-text columns are
        skipped by the search, so they are not refused).
    """
    limits = config.limits
    segment = config.customers.segment
    if segment in customers.columns:
        segments = int(customers[segment].nunique())
        if segments > limits.max_segment_values:
            raise RefineError(
                f"the segment column {segment!r} holds {_n(segments)} distinct segments, more than [limits] "
                f"max_segment_values = {_n(limits.max_segment_values)}; check that [customers] segment names the "
                "segment column, or raise that setting",
                where=where,
            )
    others = [c for c in attributes if c != segment]
    check_attribute_count(others, config, where)
    kinds = classify_columns(customers, others)
    for column in kinds.of(CATEGORY):
        levels = kinds.levels[column]
        if levels > limits.max_attribute_levels:
            raise RefineError(
                f"column {column!r} has {_n(levels)} distinct values, more than [limits] max_attribute_levels = "
                f"{_n(limits.max_attribute_levels)}; list it in [customers] exclude, or raise that setting",
                where=where,
            )
    return kinds
