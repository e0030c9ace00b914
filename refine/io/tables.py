"""A table read as text cells: what ingest validates, whether it came from a file or a database.

Its own module so that refine.io.ingest (files) and refine.io.sources (databases) both build it without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class Table:
    """A file read as text cells, with the rows that could not be parsed."""

    path: Path
    frame: pd.DataFrame  # every cell a string ("" for blank), original column names; index = row number
    #                      (1-based data row of a CSV / TSV / Parquet file, line number of a JSONL file)
    bad_rows: list[tuple[int, str]]  # (row number, reason) for rows that could not be parsed
    sha256: str
    encoding: str
    rows_in: int
    notes: list[str] = field(default_factory=list)  # warnings about the file as a whole
    bad_cells: dict[int, list[str]] = field(default_factory=dict)  # row number -> cells of a ragged row
    source: str | None = None  # a database table / query (URL without password) instead of a file

    @property
    def where(self) -> str:
        """What messages name: the file, or the database URL (password removed) and table / query."""
        return self.source or str(self.path)

    def bad_row_id(self, number: int, column: str | None) -> str:
        """The id cell of an unparseable row, when the row got that far (for the reject's id)."""
        cells = self.bad_cells.get(number)
        if not cells or not column or column not in self.frame.columns:
            return ""
        position = self.frame.columns.get_loc(column)
        return cells[position].strip() if isinstance(position, int) and position < len(cells) else ""


def _cell(value) -> str:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict, np.ndarray)):
        return str(value)
    return str(value)


# spaces and a byte-order mark around an id are export noise: ids match without them, and leave as they came
_ID_EDGES = r"^[\s\ufeff]+|[\s\ufeff]+$"


def id_keys(ids: pd.Series) -> pd.Series:
    """The form ids are matched in: the text cells without surrounding whitespace or BOM ("\\ufeff 42 " -> "42").

    Only matching uses it; every file refine writes holds the id cell exactly as it was read.
    """
    return ids.astype(str).str.replace(_ID_EDGES, "", regex=True)
