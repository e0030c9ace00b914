"""Read feedback and customers (CSV / Parquet / JSONL), map columns, validate, redact, account for every row.

Every input row ends either accepted or in the rejects table with a reason:
accepted + rejected = input, always. Ids are strings ("007" is not "7").
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from refine import schemas as S
from refine.errors import RefineError
from refine.io.config import RefineConfig
from refine.io.dates import NUMERIC_DATE, read_dates
from refine.io.keys import unmatched_ids_message
from refine.io.limits import ColumnKinds, check_attribute_count, check_customers, check_rows
from refine.io.privacy import redact
from refine.io.sources import read_database
from refine.io.tables import Table, _cell, id_keys

# one comment may be megabytes long (pasted logs); it is truncated later, never dropped
csv.field_size_limit(256 * 1024 * 1024)
_SCI_ID = re.compile(r"^-?\d+(\.\d+)?[eE]\+?\d+$")
_PLAIN_NUMBER = r"^-?[0-9]{1,15}(\.[0-9]{1,15})?$"
_MISSING = {"na", "n/a", "#n/a", "null", "none", "nan", "-"}
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+(,\d+)?$")  # "3,0", "-12,75" and whole numbers
_THOUSANDS_LIKE = re.compile(r"^[+-]?\d{1,3},\d{3}$")  # "1,250": a decimal comma or a thousands separator
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$|^[+-]?\d+(\.\d+)?$")  # "1,250.50", "1,234,567", "12.5"
# European: "1.250,50", "1.234.567", "12,5"; and the cells no other reading fits, either way
_EU_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$|^[+-]?\d+(,\d+)?$")
_EU_SURE = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+,\d+$|^[+-]?\d{1,3}(\.\d{3}){2,}$")  # "1.250,50", "1.234.567"
_US_SURE = re.compile(r"^[+-]?\d{1,3}(,\d{3})+\.\d+$|^[+-]?\d{1,3}(,\d{3}){2,}$")  # "1,250.50", "1,234,567"
_BOOL_TRUE = {"true", "yes", "y", "1", "t"}
_BOOL_FALSE = {"false", "no", "n", "0", "f"}
SCALES = {"nps": [0.0, 10.0], "csat": [1.0, 5.0], "stars": [1.0, 5.0], "ces": [1.0, 7.0]}


@dataclass
class IngestResult:
    feedback: pd.DataFrame
    customers: pd.DataFrame
    rejects: pd.DataFrame
    attributes: list[str]  # customer columns that rules may use
    counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    inputs: dict[str, dict] = field(default_factory=dict)
    # numeric / boolean / category / id-like / free text, per attribute but the segment (refine.io.limits)
    column_kinds: ColumnKinds = field(default_factory=ColumnKinds)


class NoUsableRows(RefineError):
    """No row of a table can be used. The message counts the reasons; `rejects` holds every row rejected so far
    (both tables), so that a caller can write rejects.csv before it stops, and name it."""

    def __init__(self, what: str, rejects: list[dict], *, where: str, detail: str = ""):
        self.rejects = pd.DataFrame(rejects, columns=S.REJECT_COLUMNS)
        table = "customers" if what == "customer" else what
        reasons = self.rejects.loc[self.rejects["table"] == table, "reason"].value_counts()
        shown = ", ".join(f"{n} {reason}" for reason, n in reasons.head(4).items())
        more = f", {int(reasons.iloc[4:].sum())} other" if len(reasons) > 4 else ""
        summary = f"{int(reasons.sum())} rows rejected ({shown}{more})" if len(reasons) else "no rows"
        super().__init__(f"no usable {what} rows: {summary}" + (f"; {detail}" if detail else ""), where=where)


# ---- reading ---------------------------------------------------------------------------------


def _decode(raw: bytes, path: Path) -> tuple[str, str]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def read_table(path: str | Path, *, what: str) -> Table:
    """Read a CSV, TSV, Parquet or JSONL file into string cells; unparseable rows are collected."""
    path = Path(path)
    if not path.exists():
        raise RefineError(f"{what} file not found", where=str(path))
    if path.is_dir():
        raise RefineError(f"{what} path is a folder, not a file", where=str(path))
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    suffix = path.suffix.lower()
    bad_rows: list[tuple[int, str]] = []
    encoding = "binary"
    bad_cells: dict[int, list[str]] = {}
    delimited = False
    delimiter = ","
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(io.BytesIO(raw)).reset_index(drop=True)
            frame.index = pd.RangeIndex(1, len(frame) + 1)
        elif suffix in (".jsonl", ".ndjson"):
            text, encoding = _decode(raw, path)
            records = []
            numbers = []
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError:
                    bad_rows.append((number, "line is not valid JSON"))
                    continue
                if not isinstance(value, dict):
                    bad_rows.append((number, "line is not a JSON object"))
                    continue
                records.append(value)
                numbers.append(number)
            frame = pd.DataFrame.from_records(records, index=pd.Index(numbers, dtype="int64"))
        elif suffix == ".json":  # one JSON array of objects; rows numbered from 1 in array order
            text, encoding = _decode(raw, path)
            try:
                document = json.loads(text)
            except ValueError as exc:
                raise RefineError(f"file is not valid JSON ({exc})") from None
            if not isinstance(document, list):
                raise RefineError("a .json file must hold one array of objects (or use .jsonl, an object a line)")
            records, numbers = [], []
            for number, value in enumerate(document, start=1):
                if isinstance(value, dict):
                    records.append(value)
                    numbers.append(number)
                else:
                    bad_rows.append((number, "element is not a JSON object"))
            frame = pd.DataFrame.from_records(records, index=pd.Index(numbers, dtype="int64"))
        elif suffix in (".csv", ".tsv", ".txt", ""):
            text, encoding = _decode(raw, path)
            delimiter = _delimiter(text, "\t" if suffix == ".tsv" else None)
            frame = _read_delimited_arrow(raw, text, delimiter) if encoding == "utf-8" else None
            if frame is None:
                frame, bad_rows, bad_cells = _read_delimited(text, delimiter)
            delimited = True
        else:
            raise RefineError(
                f"unsupported file type '{suffix}' (use .csv, .tsv, .parquet, .jsonl or .json)", where=str(path)
            )
    except RefineError as exc:
        if exc.where is None:  # say which file
            raise RefineError(f"{what} {exc}", where=str(path)) from None
        raise
    except Exception as exc:
        raise RefineError(
            f"cannot read {what} file ({type(exc).__name__}: {str(exc).splitlines()[0][:150]})", where=str(path)
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if delimited:  # already NUL-free text cells
        frame = frame.astype("str")
    else:  # Parquet and JSON cells are typed values
        frame = frame.astype(object).where(frame.notna(), "")
        frame = frame.map(_cell)
    rows_in = len(frame) + len(bad_rows)
    notes = []
    # more line breaks than rows: some cell holds one (or the file has blank lines); look closer
    if delimited and (text.count("\n") if "\n" in text else text.count("\r")) > rows_in + 1:
        notes = _joined_rows(frame, delimiter, path)
    return Table(
        path=path,
        frame=frame,
        bad_rows=bad_rows,
        sha256=digest,
        encoding=encoding,
        rows_in=rows_in,
        notes=notes,
        bad_cells=bad_cells,
    )


def _joined_rows(frame: pd.DataFrame, delimiter: str, path: Path) -> list[str]:
    """A warning per cell whose line breaks hide what look like whole rows: an unclosed quote swallowed them.

    A quoted comment may span lines, so such a cell is kept; but when a line inside it splits into as many
    fields as the header has, and its first field looks like the file's first column (the same shape of
    digits and letters as that column's values: `1042`, `r-17`), the file most likely lost a closing quote
    there. A review whose second paragraph holds commas is not a row: its first words are no id. At most
    five cells are named, then "and N more".
    """
    width = len(frame.columns)
    notes: list[str] = []
    if width < 2:
        return notes
    first = frame[frame.columns[0]]
    shapes = set(first[~first.str.contains("\n", regex=False)].map(_shape))
    more = 0
    for column in frame.columns:
        cells = frame[column]
        multiline = cells[cells.str.contains("\n", regex=False)]
        for row, cell in multiline.items():
            inner = cell.split("\n")[1:]
            rowlike = sum(1 for line in inner if _looks_like_row(line, delimiter, width, shapes))
            if not rowlike:
                continue
            if len(notes) >= 5:
                more += 1
                continue
            notes.append(
                f"{path.name} row {row}: column {column!r} spans {len(inner) + 1} lines, {rowlike} of "
                f"which look like whole rows; an unclosed quote may have joined them into this row"
            )
    if more:
        notes.append(f"{path.name}: and {more} more cells like these")
    return notes


def _shape(value: str) -> str:
    """A value's shape: each run of digits is 9, each run of letters a (`r-0017` -> `a-9`)."""
    return re.sub(r"[^\W\d_]+", "a", re.sub(r"\d+", "9", value.strip()))


def _looks_like_row(line: str, delimiter: str, width: int, shapes: set[str]) -> bool:
    if line.count(delimiter) < width - 1:
        return False
    try:
        fields = next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return False
    return len(fields) == width and bool(fields[0].strip()) and _shape(fields[0]) in shapes


def _delimiter(text: str, delimiter: str | None) -> str:
    """The given delimiter, or the one the header line uses (',' when it cannot tell)."""
    if delimiter is not None:
        return delimiter
    try:
        return csv.Sniffer().sniff(text[:20000].split("\n", 1)[0] or ",", delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _read_delimited_arrow(raw: bytes, text: str, delimiter: str) -> pd.DataFrame | None:
    """A well-formed UTF-8 file read by Arrow's CSV reader, exactly as `_read_delimited` would read it.

    About ten times faster on a million-row customer table (the python csv module builds a list per
    row, and pandas then converts every cell). Returns None, and the python reader takes over, for
    anything off the common path: a NUL byte, a ragged or malformed row, a header the two readers
    disagree on, or any error. tests/test_ingest_fuzz.py runs both readers on the same fuzzed
    files and requires identical frames whenever this one answers.
    """
    if b"\x00" in raw or not text:
        return None
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except (StopIteration, csv.Error):
        return None
    if not header:
        return None
    width = len(header)
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    names = [f"f{i}" for i in range(width)]
    try:
        table = pcsv.read_csv(
            pa.BufferReader(body),
            read_options=pcsv.ReadOptions(column_names=names, block_size=1 << 24),
            parse_options=pcsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=True,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except Exception:  # ragged rows, bad quoting, anything: the python reader explains it row by row
        return None
    if table.num_rows == 0 or [table.column(i)[0].as_py() for i in range(width)] != header:
        return None
    frame = table.slice(1).to_pandas()
    frame.columns = _unique_header(header)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame


def _read_delimited(text: str, delimiter: str) -> tuple[pd.DataFrame, list[tuple[int, str]], dict[int, list[str]]]:
    text = text.replace("\x00", "")
    # a million rows are a million lists: the cyclic collector would scan them again and again
    # while they pile up (3 of the 4 s of parsing 1M customers); none of them can form a cycle
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse_delimited(text, delimiter)
    finally:
        if collecting:
            gc.enable()


def _parse_delimited(text: str, delimiter: str) -> tuple[pd.DataFrame, list[tuple[int, str]], dict[int, list[str]]]:
    """Cells, (row, reason) for each row that could not be used, and a ragged row's cells by row."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise RefineError("file is empty") from None
    except csv.Error as exc:
        raise RefineError(f"cannot parse the header row ({exc})") from None
    width = len(header)
    rows: list[list[str]] = []
    bad: list[tuple[int, str]] = []
    cells: dict[int, list[str]] = {}  # a ragged row's cells, for its id in the reject
    number = 0
    try:  # the usual case, a well-formed file, read in one call
        records = list(reader)
    except csv.Error:  # read again row by row, so each malformed row is a counted reject
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        next(reader)
        records = _records_one_by_one(reader)
    for record in records:
        if isinstance(record, csv.Error):
            number += 1
            bad.append((number, f"malformed row ({record})"))
            continue
        if not record:  # a truly empty line is not a data row
            continue
        number += 1
        if len(record) != width:
            # trailing empty cells from spreadsheet exports are harmless
            if len(record) > width and not any(c.strip() for c in record[width:]):
                record = record[:width]
            else:
                lines = sum(c.count("\n") + c.count("\r") for c in record)
                joined = f" (an unclosed quote may have joined it with the {lines} lines after it)" if lines else ""
                bad.append((number, f"row has {len(record)} fields, header has {width}{joined}"))
                cells[number] = record
                continue
        rows.append(record)
    names = _unique_header(header)
    frame = pd.DataFrame(rows, columns=names, dtype=object)
    frame.index = [n for n in _row_numbers(number, bad)]
    return frame, bad, cells


def _records_one_by_one(reader) -> list:
    """Every record, with a csv.Error in place of each row the reader cannot parse."""
    records: list = []
    while True:
        try:
            records.append(next(reader))
        except StopIteration:
            return records
        except csv.Error as exc:
            records.append(exc)


def _row_numbers(total: int, bad: list[tuple[int, str]]):
    skip = {n for n, _ in bad}
    return [n for n in range(1, total + 1) if n not in skip][:total]


def _unique_header(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for name in header:
        name = name.strip().lstrip("\ufeff")
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        names.append(name)
    return names


def _require(table: Table, column: str | None, what: str, key: str) -> None:
    if column and column not in table.frame.columns:
        shown = ", ".join(repr(c) for c in list(table.frame.columns)[:12])
        raise RefineError(
            f"column {column!r} ({key}) is not in the {what} {'table' if table.source else 'file'} (it has: {shown})",
            where=table.where,
        )


# ---- customers -------------------------------------------------------------------------------


def _shown(cell: str, plain: str) -> str:
    """A numeric cell as a warning quotes it (`plain`: the number it reads as, "1234567.5"): a whole number of
    nine digits and more that reads as a phone or a card (4,155,550,132: a phone held as a number, formatted
    with separators) is shown redacted."""
    whole = plain.split(".")[0].lstrip("-+")
    return redact(whole) if len(whole) >= 9 and whole.isdigit() and redact(whole) != whole else cell


def _typed(values: pd.Series, warnings: list[str] | None = None, *, flags: bool = True) -> pd.Series:
    """Numbers become numbers, true/false become booleans, everything else stays text.

    In a column of numbers, the usual spellings of a missing value (NA, N/A, null, ...) are missing
    values, counted in `warnings`; in a text column they stay text. With ``flags=False`` a yes/no (true/false,
    Y/N) column stays text as held, so a rule on it names the values the customer table holds (a 1/0 column
    is numbers either way).
    """
    stripped = values.str.strip()
    blank = stripped == ""
    marked = stripped.str.lower().isin(_MISSING) & ~blank
    if marked.any():
        typed = _typed(values.where(~marked, ""))
        if pd.api.types.is_numeric_dtype(typed) and not pd.api.types.is_bool_dtype(typed):
            if warnings is not None:
                shown = ", ".join(repr(v) for v in sorted(set(stripped[marked]))[:3])
                warnings.append(
                    f"{int(marked.sum())} cells of the numeric column {values.name!r} read as missing ({shown})"
                )
            return typed
        return values
    present = stripped[~blank]
    if present.empty:  # nothing filled in: a numeric column of missing values
        return pd.Series(np.nan, index=values.index, dtype=float)
    lowered = present.str.lower()
    if lowered.isin(_BOOL_TRUE | _BOOL_FALSE).all() and not lowered.isin({"0", "1"}).all():
        if not flags:
            return values
        return stripped.str.lower().map(lambda v: True if v in _BOOL_TRUE else (False if v in _BOOL_FALSE else None))
    plain = _plain_numbers(present)
    if plain is not None:
        out = pd.Series(np.nan, index=values.index, dtype=float)
        out[~blank] = plain
    elif pd.to_numeric(present.iloc[:1000], errors="coerce").isna().any():
        return values  # text: one cell that is not a number decides it, no need to parse a million
    else:
        out = pd.to_numeric(stripped.replace("", np.nan), errors="coerce")  # parsed once, per cell
    if out[~blank].notna().all():
        filled = out.dropna()
        # whole numbers become integers; "inf" and numbers past 2**53 (no longer exact) stay floats
        if np.isfinite(filled).all() and (filled.abs() < 2.0**53).all() and (filled == filled.round()).all():
            return out.astype("Int64") if out.isna().any() else out.astype("int64")
        return out.astype(float)
    return values


def flag_answers(values: pd.Series) -> pd.Series | None:
    """Per cell True / False / None (blank) for a text column of yes/no spellings (``Yes``, ``y``, ``FALSE``...),
    else None: how the search reads a yes/no column ingest kept as held."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return None
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip().str.lower()
    present = text[text != ""]
    if present.empty or not present.isin(_BOOL_TRUE | _BOOL_FALSE).all() or present.isin({"0", "1"}).all():
        return None
    return text.map(lambda v: True if v in _BOOL_TRUE else (False if v in _BOOL_FALSE else None)).astype(object)


def read_typed_table(path: str | Path, *, what: str, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """A whole file read by `read_table` and typed as ingest types customer attributes (for the A/B tables).

    Columns of numbers become numbers (whole numbers with a gap become floats, as pandas reads them),
    true/false columns booleans, the rest text; `text_columns` (ids) stay text. A blank cell or one of
    the usual missing spellings (NA, null, ...) is missing. A row that cannot be parsed is a one-line error naming the file and the row:
    an A/B table has no rejects file to count it in. The index is 0..n-1 in file order.
    """
    table = read_table(path, what=what)
    if table.bad_rows:
        number, reason = table.bad_rows[0]
        more = f" (and {len(table.bad_rows) - 1} more rows)" if len(table.bad_rows) > 1 else ""
        raise RefineError(f"cannot read {what} file: row {number}: {reason}{more}", where=table.where)
    keep_text = set(text_columns)
    columns = {}
    for column in table.frame.columns:
        cells = table.frame[column]
        typed = cells if column in keep_text else _typed(cells)
        if isinstance(typed.dtype, pd.Int64Dtype):
            typed = typed.astype(float)
        elif typed is cells:  # text
            stripped = cells.str.strip()
            typed = cells.where((stripped != "") & ~stripped.str.lower().isin(_MISSING), None).astype(object)
        columns[column] = typed
    frame = pd.DataFrame(columns, index=table.frame.index)
    return frame.reset_index(drop=True)


def _plain_numbers(present: pd.Series) -> np.ndarray | None:
    """float64 values when every cell is a plain decimal ("-12", "42.50"), else None.

    Arrow parses these about ten times faster than pd.to_numeric. Both round a decimal to the nearest
    double, and with at most 15 digits on either side of the point the result is the same number, so
    the typed column is identical; anything else (exponents, "+5", ".5", "inf", thousands separators,
    long digit strings) goes through pd.to_numeric as before.
    """
    cells = pa.array(present, type=pa.string(), from_pandas=True)
    if not pc.all(pc.match_substring_regex(cells, _PLAIN_NUMBER)).as_py():
        return None
    return pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False)


def _decimal_commas(cells: pd.Series, column: str, warnings: list[str]) -> pd.Series:
    """Numbers written with commas, as numbers `_typed` reads, where the column leaves no doubt; else `cells`.

    Thousands separators ("1,250.50", "1,234,567") are dropped when every filled cell (but the usual missing
    spellings) is such a number or a plain one and a point or a second comma shows what the commas are.
    Decimal commas ("3,0") become points when every filled cell is a whole number or digits, one comma,
    digits; at least one has a comma; and not every comma cell could be a thousands separator ("1,250"),
    which a US export may also write. European numbers ("1.250,50", "1.234.567") lose their points and take
    a decimal point when every filled cell is one or a plain "12,5" / "42" and one cell shows the points
    separate thousands (a comma after them, or a second point). Each conversion is said once in `warnings`;
    a column of numbers written both ways ("1,250.50" and "1.250,50") is named in a warning and left as
    written. Ids never come here.
    """
    stripped = cells.str.strip()
    filled = stripped[(stripped != "") & ~stripped.str.lower().isin(_MISSING)]
    comma = filled.str.contains(",", regex=False)
    if not comma.any() and not (filled.str.count(r"\.") > 1).any():
        return cells
    numbers = filled.str.match(_THOUSANDS) | filled.str.match(_EU_THOUSANDS)
    us, eu = filled.str.match(_US_SURE), filled.str.match(_EU_SURE)
    if numbers.all() and us.any() and eu.any():
        us_cell, eu_cell = filled[us].iloc[0], filled[eu].iloc[0]
        warnings.append(
            f"column {column!r} writes numbers both ways ({_shown(us_cell, us_cell.replace(',', ''))} and "
            f"{_shown(eu_cell, eu_cell.replace('.', '').replace(',', '.'))}): "
            "read as written (text), not guessed; export it with one number format"
        )
        return cells
    if eu.any() and filled.str.match(_EU_THOUSANDS).all():
        changed = filled.str.contains(r"[.,]", regex=True)
        example = filled[eu].iloc[0]
        plain = example.replace(".", "").replace(",", ".")
        warnings.append(
            f"read European numbers in column {column!r} ({int(changed.sum())} cells, e.g. {_shown(example, plain)} as "
            f"{_shown(plain, plain)})"
        )
        return cells.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    if (
        comma.any()
        and filled.str.match(_THOUSANDS).all()
        and (filled.str.contains(".", regex=False) | (filled.str.count(",") > 1)).any()
    ):
        example = filled[comma].iloc[0]  # a point for decimals, or a second comma: the commas separate thousands
        plain = example.replace(",", "")
        warnings.append(
            f"read thousands separators in column {column!r} ({int(comma.sum())} cells, e.g. {_shown(example, plain)} as "
            f"{_shown(plain, plain)})"
        )
        return cells.str.replace(",", "", regex=False)
    if not filled.str.match(_DECIMAL_COMMA).all():
        return cells
    if filled[comma].str.match(_THOUSANDS_LIKE).all():
        return cells
    example = filled[comma].iloc[0]
    warnings.append(
        f"read decimal commas as decimal points in column {column!r} ({int(comma.sum())} cells, "
        f"e.g. {example} as {example.replace(',', '.')})"
    )
    return cells.str.replace(",", ".", regex=False)


def _disagreeing_duplicates(segments: pd.Series, ids: pd.Series, reason: pd.Series, warnings: list[str]) -> None:
    """A duplicate customer id whose segment differs from the kept row's: the reason names both, a warning counts them."""
    first = ~ids.duplicated(keep="first") & (reason == "")
    kept = pd.Series(segments[first].to_numpy(), index=ids[first].to_numpy())
    dup = reason == "duplicate customer id"
    kept_segment = ids[dup].map(kept)
    differs = kept_segment.notna() & (kept_segment != segments[dup])
    if not differs.any():
        return
    rows = differs[differs].index
    reason[rows] = [
        f"duplicate customer id with another segment ({kept_segment[i]} kept, {segments[i]} dropped)" for i in rows
    ]
    warnings.append(
        f"{len(rows)} customer rows repeat an id with a different segment: the first row's segment is kept "
        "(see rejects.csv; export one row per customer)"
    )


def _segment_spellings(segments: pd.Series, column: str) -> list[str]:
    """A warning naming segment names that differ only by case or edge spaces ("Gold" / "gold "), with counts.

    Segment names are CRM values and stay exactly as written; the spellings are told, not merged.
    """
    counts = segments.value_counts()
    names = pd.Series(counts.index, index=counts.index)
    groups = names.groupby(names.str.strip().str.casefold().to_numpy())
    spelled = [g.tolist() for _, g in groups if len(g) > 1]
    if not spelled:
        return []
    shown = "; ".join(" / ".join(f"{name!r} ({counts[name]})" for name in names) for names in spelled[:5])
    more = f"; and {len(spelled) - 5} more" if len(spelled) > 5 else ""
    return [
        f"segment column {column!r} spells {len(spelled)} segment(s) several ways, differing only by case or "
        f"spaces: {shown}{more}; edge spaces are trimmed, but names that differ in case stay separate segments "
        "(fix the spelling in the export to merge them)"
    ]


_SCORE_SKIPPED = _MISSING | {"?", "--", "n.a.", "none given"}
_WORDED_SCORE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?:/\s*(?P<of>\d+)|out of\s*(?P<of2>\d+)|stars?)$", re.IGNORECASE)
_STAR_GLYPHS = re.compile(r"^★+☆*$")


def _worded_scores(cells: pd.Series, config: RefineConfig, warnings: list[str]) -> pd.Series:
    """Scores written with their scale ("4/5", "4 out of 5", "4 stars", "★★★★☆") as the number; else `cells`.

    Only when every filled cell that is not a number (nor a skip marker) is written so, all with one scale,
    and that scale's top is the configured one's (when one is configured): "4/10" is never read as 4 stars.
    The conversion is said once in `warnings`.
    """
    fc = config.feedback
    stripped = cells.str.strip()
    filled = stripped[(stripped != "") & ~stripped.str.lower().isin(_SCORE_SKIPPED)]
    worded = filled[pd.to_numeric(filled, errors="coerce").isna()]
    if worded.empty:
        return cells
    glyphs = worded.str.match(_STAR_GLYPHS)
    parts = worded[~glyphs].str.extract(_WORDED_SCORE)
    if parts["n"].isna().any():
        return cells
    tops = set(parts["of"].dropna()) | set(parts["of2"].dropna())
    tops |= {str(len(v)) for v in worded[glyphs] if "☆" in v}
    scale = fc.score_scale or SCALES.get(fc.score_kind or "")
    if len(tops) > 1 or (tops and scale is not None and float(next(iter(tops))) != float(scale[1])):
        return cells
    numbers = pd.concat([parts["n"], worded[glyphs].str.count("★").astype(str)])
    example = worded.iloc[0]
    warnings.append(
        f"read scores written with their scale in column {fc.score!r} ({len(worded)} cells, e.g. {example!r} "
        f"as {numbers[worded.index[0]]})"
    )
    out = cells.copy()
    out[numbers.index] = numbers
    return out


_WITH_UNIT = re.compile(r"^(?:[$€£¥]\s*)?[+-]?\d[\d,]*(?:\.\d+)?\s*(?:%|[$€£¥]|USD|EUR|GBP)?$")


def _numbers_with_units(values: pd.Series, column: str) -> list[str]:
    """A warning for a text column whose cells are numbers with a unit ("$7.00", "12%"): read as categories."""
    if values.dtype != object and not pd.api.types.is_string_dtype(values):
        return []
    filled = values[values.notna()].astype(str).str.strip()
    filled = filled[filled != ""]
    unit = ~filled.str.fullmatch(r"[+-]?[\d.,]+")
    if filled.empty or not filled.str.match(_WITH_UNIT).all() or not unit.any():
        return []
    return [
        f"column {column!r} holds numbers written with a unit (e.g. {filled[unit].iloc[0]!r}): it is read as text "
        "(categories), not as a number; export it as plain numbers to have it searched by value"
    ]


def _customers(
    table: Table, config: RefineConfig, rejects: list[dict], warnings: list[str]
) -> tuple[pd.DataFrame, list[str]]:
    cc = config.customers
    for key in ("customer_id", "segment"):
        _require(table, getattr(cc, key), "customers", f"[customers] {key}")
    for key in ("outcomes", "exclude"):
        for column in getattr(cc, key):
            _require(table, column, "customers", f"[customers] {key}")
    _require(table, getattr(cc, "value", ""), "customers", "[customers] value")
    for number, reason in table.bad_rows:  # a broken row's "id" may be comment text: redacted
        rejects.append(
            {
                "table": "customers",
                "row": number,
                "id": redact(table.bad_row_id(number, cc.customer_id)),
                "reason": reason,
            }
        )
    frame = table.frame.copy()
    frame.insert(0, "__row", frame.index)
    ids = id_keys(frame[cc.customer_id])  # matched without edge spaces / BOM; the cell itself is kept as read
    header_repeat = (ids == cc.customer_id) & (frame[cc.segment].str.strip() == cc.segment)
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[header_repeat] = "repeated header row"
    reason[(reason == "") & (ids == "")] = "missing customer id"
    reason[(reason == "") & (frame[cc.segment].str.strip() == "")] = "missing segment"
    dup = (reason == "") & ids.duplicated(keep="first") & (ids != "")
    reason[dup & (reason == "")] = "duplicate customer id"
    _disagreeing_duplicates(frame[cc.segment].str.strip(), ids, reason, warnings)
    sci = ids.str.match(_SCI_ID)
    if sci.any():
        warnings.append(
            f"{int(sci.sum())} customer ids look like numbers mangled by a spreadsheet "
            f"(e.g. {ids[sci].iloc[0]!r}); they will not match the feedback file's ids"
        )
    for idx in reason[reason != ""].index:
        rejects.append(
            {
                "table": "customers",
                "row": int(frame.at[idx, "__row"]),
                "id": frame.at[idx, cc.customer_id],
                "reason": reason[idx],
            }
        )
    frame = frame[reason == ""].drop(columns="__row")
    if frame.empty:
        raise NoUsableRows("customer", rejects, where=table.where)
    warnings.extend(_segment_spellings(frame[cc.segment], cc.segment))
    frame[cc.segment] = frame[cc.segment].str.strip()
    keep = [c for c in frame.columns if c not in cc.exclude]
    frame = frame[keep]
    # before typing each column: a table a thousand columns wide is refused in a second, not a minute
    check_attribute_count(
        [c for c in keep if c not in (cc.customer_id, cc.segment) and c not in cc.outcomes], config, str(table.path)
    )
    attributes = []
    for column in frame.columns:
        if column in (cc.customer_id,):
            continue
        if column != cc.segment:  # an attribute's yes/no stays as held: rules are written on the CRM's values
            frame[column] = _typed(
                _decimal_commas(frame[column], column, warnings), warnings, flags=column in cc.outcomes
            )
            warnings.extend(_numbers_with_units(frame[column], column))
        if column not in cc.outcomes and column != cc.segment:
            frame[column] = _day_month_dates(frame[column], warnings)
        if column in cc.outcomes:
            if not (pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column])):
                bad = frame[column][pd.to_numeric(frame[column], errors="coerce").isna() & (frame[column] != "")]
                example = bad.iloc[0] if len(bad) else ""
                raise RefineError(
                    f"outcome column {column!r} must be numeric or true/false (found {redact(str(example))[:30]!r})",
                    where=table.where,
                )
            frame[column] = frame[column].astype(float)
            infinite = ~np.isfinite(frame[column].fillna(0.0).to_numpy())
            if infinite.any():
                raise RefineError(
                    f"outcome column {column!r} holds an infinite value ({int(infinite.sum())} "
                    f"rows); an outcome must be a finite number or blank",
                    where=table.where,
                )
        elif column != cc.segment:
            attributes.append(column)
        else:
            attributes.append(column)
    return frame.reset_index(drop=True), attributes


def _day_month_dates(values: pd.Series, warnings: list[str]) -> pd.Series:
    """A text column of US / EU dates (03/01/2024, 01.03.24) as datetimes, the order decided per column.

    A rule compares a date column with "2024-03-01": on text such dates would compare as strings, and
    wrongly, so they become dates here (at ingest and when `assign` reads a re-exported table). ISO text
    already compares right and stays as it is. Anything that is not such a date column comes back unchanged.
    """
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return values
    head = values.iloc[:5000].astype("string").str.strip()  # a sample first: most text columns are no dates
    head = head[head.notna() & (head != "")]
    if head.empty or not head.iloc[:2000].str.match(NUMERIC_DATE).all():
        return values
    text = values.astype("string").str.strip()
    present = text[text.notna() & (text != "")]
    parsed, notes = read_dates(text.fillna(""), column=str(values.name), setting="", what="customer date column")
    if parsed[present.index].isna().mean() > 0.01:
        return values
    warnings.extend(notes)
    return parsed.dt.tz_localize(None)


# ---- feedback --------------------------------------------------------------------------------


def _scale(config: RefineConfig, scores: pd.Series) -> tuple[list[float] | None, str | None]:
    fc = config.feedback
    kind = fc.score_kind
    scale = fc.score_scale
    if scale is None and kind in SCALES:
        scale = SCALES[kind]
    if scale is None:
        present = scores.dropna()
        if present.empty:
            return None, kind
        high = present.max()
        scale = [0.0, 10.0] if high > 5 else [1.0, 5.0]
        kind = kind or ("nps" if high > 5 else "stars")
    if kind is None:
        kind = {(0.0, 10.0): "nps", (1.0, 5.0): "stars", (1.0, 7.0): "ces"}.get((scale[0], scale[1]), "other")
    return scale, kind


def _feedback(
    table: Table,
    config: RefineConfig,
    known_customers: pd.Series,
    rejects: list[dict],
    warnings: list[str],
    counts: dict[str, int],
) -> pd.DataFrame:
    fc = config.feedback
    for key in ("customer_id", "text", "id", "score", "timestamp", "source"):
        _require(table, getattr(fc, key), "feedback", f"[feedback] {key}")
    _check_text_column(table, config)
    for number, reason in table.bad_rows:
        rejects.append(
            {"table": "feedback", "row": number, "id": redact(table.bad_row_id(number, fc.id)), "reason": reason}
        )
    frame = table.frame
    n = len(frame)
    rows = pd.Series(frame.index, index=frame.index)
    customer = id_keys(frame[fc.customer_id])  # matched without edge spaces / BOM
    text = frame[fc.text]
    if fc.id:
        ids = frame[fc.id]  # written as read; compared without edge spaces / BOM
        id_key = id_keys(ids)
    else:
        ids = id_key = rows.map(lambda r: f"row-{r:06d}")
    reason = pd.Series("", index=frame.index, dtype=object)

    def mark(mask: pd.Series, why: str) -> None:
        reason[(reason == "") & mask] = why

    mark((customer == fc.customer_id) & (text.str.strip() == fc.text), "repeated header row")
    if fc.id:
        mark(id_key == "", "missing feedback id")
    mark(customer == "", "missing customer id")
    mark(text.str.strip() == "", "blank text")
    mark(~text.str.contains(r"[^\W_]", regex=True), "text has no letters or digits")
    position = known_customers.index.get_indexer(customer)
    mark(pd.Series(position < 0, index=frame.index), "unknown customer")
    key = customer + "\x00" + text.str.strip() + ("\x00" + frame[fc.timestamp].str.strip() if fc.timestamp else "")
    first = ~key.duplicated(keep="first")
    mark(~first & (reason == ""), "exact duplicate submission")
    if fc.id:
        mark(id_key.duplicated(keep="first"), "duplicate feedback id")
    sci = customer.str.match(_SCI_ID)
    if sci.any():
        warnings.append(
            f"{int(sci.sum())} feedback customer ids look like numbers mangled by a spreadsheet "
            f"(e.g. {customer[sci].iloc[0]!r})"
        )

    score = _scores(frame, config, counts, warnings, kept=reason == "", where=table.where)
    timestamp = _timestamps(frame, config, warnings)
    mark(timestamp.isna() & (frame[fc.timestamp].str.strip() != "" if fc.timestamp else False), "unreadable timestamp")

    for idx in reason[reason != ""].index:
        rejects.append({"table": "feedback", "row": int(rows[idx]), "id": ids[idx], "reason": reason[idx]})
    keep = reason == ""
    cleaned = text[keep].str.replace(r"\s+", " ", regex=True).str.strip()
    # redact the whole text before cutting it: an address cut in half no longer looks like one (the
    # patterns are linear, so a megabyte paste costs a fraction of a second)
    redacted = cleaned.map(redact)
    counts["feedback_redacted"] = int((redacted != cleaned).sum())
    too_long = redacted.str.len() > fc.max_text_chars
    counts["feedback_truncated"] = int(too_long.sum())
    if too_long.any():
        warnings.append(
            f"{int(too_long.sum())} feedback texts longer than {fc.max_text_chars} characters were truncated"
        )
        redacted = redacted.where(~too_long, redacted.str.slice(0, fc.max_text_chars))
    out = pd.DataFrame(
        {
            S.FEEDBACK_ID: ids[keep].values,
            # the customer table's own id cell: one customer has one id in every file refine writes
            S.CUSTOMER_ID: known_customers.to_numpy()[position[keep.to_numpy()]],
            S.TEXT: redacted.values,
            S.SCORE: score[keep].astype(float).values,
            S.TIMESTAMP: _utc_naive(timestamp[keep]),
            S.SOURCE: (frame[fc.source][keep].str.strip().map(redact).values if fc.source else [""] * int(keep.sum())),
            S.ROW: rows[keep].astype(int).values,
        }
    )
    assert len(out) + int((reason != "").sum()) == n
    return out


def _scores(
    frame: pd.DataFrame,
    config: RefineConfig,
    counts: dict[str, int],
    warnings: list[str],
    *,
    kept: pd.Series,
    where: str,
) -> pd.Series:
    """The feedback scores; a blank, skipped (N/A, -, ?), unreadable or out-of-scale score is a missing score.

    The comment keeps its place in themes, sentiment and proposals; each kind of missing score is counted
    (run.json), and a skip marker, an unreadable or an out-of-scale score is named in a warning (an empty
    cell is counted only), over the rows `kept` so far. When most scores lie outside the scale, the scale is wrong, not the
    scores: the run stops and says so.
    """
    fc = config.feedback
    if not fc.score:
        return pd.Series(np.nan, index=frame.index)
    raw = _worded_scores(_decimal_commas(frame[fc.score], fc.score, warnings), config, warnings).str.strip()
    score = pd.to_numeric(raw, errors="coerce")
    blank = ((raw == "") | raw.str.lower().isin(_SCORE_SKIPPED)) & kept
    unreadable = ~blank & score.isna() & kept
    scale, kind = _scale(config, score)
    out_of_scale = pd.Series(False, index=frame.index)
    if scale is not None:
        out_of_scale = score.notna() & ((score < scale[0]) | (score > scale[1])) & kept
        readable = int((score.notna() & kept).sum())
        if readable and out_of_scale.sum() > readable / 2:
            shown = score[score.notna()]
            raise RefineError(
                f"score column {fc.score!r}: {int(out_of_scale.sum())} of its {readable} scores lie outside the "
                f"scale {scale[0]:g}-{scale[1]:g} ({kind}); they run from {shown.min():g} to {shown.max():g}: set "
                "[feedback] score_scale (or score_kind) to the scale of this column",
                where=where,
            )
    counts["feedback_score_missing"] = int(blank.sum())
    counts["feedback_score_unreadable"] = int(unreadable.sum())
    counts["feedback_score_out_of_scale"] = int(out_of_scale.sum())
    # an empty cell is the ordinary way to have no rating (tickets, reviews without stars): counted only;
    # a skip marker or a cell that is not a number is worth a word
    skipped = blank & (raw != "")
    for mask, what in ((skipped, "skipped (N/A, -, ?)"), (unreadable, "not a number")):
        if mask.any():
            example = f", e.g. {redact(str(raw[mask].iloc[0]))[:30]!r}"  # a phone typed in the score cell
            warnings.append(
                f"{int(mask.sum())} feedback rows have a score that is {what}{example} in {fc.score!r}: "
                "their comments are kept with a missing score"
            )
    if out_of_scale.any():
        warnings.append(
            f"{int(out_of_scale.sum())} feedback scores in {fc.score!r} lie outside the scale {scale[0]:g}-"  # type: ignore[index]
            f"{scale[1]:g} (e.g. {score[out_of_scale].iloc[0]:g}): their comments are kept with a missing score"  # type: ignore[index]
        )
    # the scale's bounds are numbers like 1.0, kept with the counts (run.json) since 0.1.0
    counts["score_scale_low"], counts["score_scale_high"] = scale or [0, 0]  # type: ignore[assignment]
    config.feedback.score_scale, config.feedback.score_kind = scale, kind
    return score if scale is None else score.where((score >= scale[0]) & (score <= scale[1]))


def _utc_naive(values: pd.Series) -> np.ndarray:
    """Datetimes as naive UTC, as `.values` gave them for a zoned column (pandas 4 will keep the zone there)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert(None)
    return values.to_numpy()


def _timestamps(frame: pd.DataFrame, config: RefineConfig, warnings: list[str]) -> pd.Series:
    """The feedback timestamps, read per column (refine.io.dates); NaT where blank or unreadable."""
    fc = config.feedback
    if not fc.timestamp:
        return pd.Series(pd.NaT, index=frame.index)
    timestamp, notes = read_dates(
        frame[fc.timestamp],
        column=fc.timestamp,
        timestamp_format=fc.timestamp_format,
        setting="[feedback] timestamp_format",
    )
    warnings.extend(notes)
    return timestamp


def ingest(feedback_path: str | Path | None, customers_path: str | Path | None, config: RefineConfig) -> IngestResult:
    """Read, validate and redact both inputs; every input row is accepted or rejected with a reason.

    Args:
        feedback_path: CSV / TSV / Parquet / JSONL with one row per piece of feedback.
        customers_path: the customer table with one row per customer and its current segment.
        config: column mapping and limits.

    Returns:
        IngestResult with canonical feedback rows, typed customers, rejects and counts.
    """
    rejects: list[dict] = []
    warnings: list[str] = []
    counts: dict[str, int] = {}
    customers_table = _read_input(customers_path, config, "customers")
    check_rows(customers_table.rows_in, table="customer", config=config, where=customers_table.where)
    feedback_table = _read_input(feedback_path, config, "feedback")
    check_rows(feedback_table.rows_in, table="feedback", config=config, where=feedback_table.where)
    customers, attributes = _customers(customers_table, config, rejects, warnings)
    if customers.empty:
        raise RefineError("no usable customer rows", where=customers_table.where)
    # [limits]: distinct segments and category levels, before any expensive stage
    column_kinds = check_customers(customers, attributes, config, where=customers_table.where)
    ids = customers[config.customers.customer_id]
    known = pd.Series(ids.to_numpy(), index=id_keys(ids).to_numpy())  # key -> id as read; unique keys
    feedback = _feedback(feedback_table, config, known, rejects, warnings, counts)
    _explain_unknown(rejects, feedback_table, config)
    reject_frame = pd.DataFrame(rejects, columns=S.REJECT_COLUMNS)
    by_table = reject_frame["table"].value_counts().to_dict()
    counts.update(
        {
            "customers_in": customers_table.rows_in,
            "customers_accepted": len(customers),
            "customers_rejected": int(by_table.get("customers", 0)),
            "feedback_in": feedback_table.rows_in,
            "feedback_accepted": len(feedback),
            "feedback_rejected": int(by_table.get("feedback", 0)),
        }
    )
    for name in ("customers", "feedback"):
        if counts[f"{name}_accepted"] + counts[f"{name}_rejected"] != counts[f"{name}_in"]:
            raise AssertionError(f"{name} rows do not add up: {counts}")
    if feedback.empty:
        raise NoUsableRows(
            "feedback", rejects, where=feedback_table.where, detail=_unmatched(feedback_table, known, config)
        )
    for table in (customers_table, feedback_table):
        warnings.extend(table.notes)
        swallowed = [n for n, reason in table.bad_rows if "unclosed quote" in reason]
        if swallowed:
            warnings.append(
                f"{table.path.name}: {len(swallowed)} rejected rows (first: row {swallowed[0]}) hold line "
                "breaks that look like an unclosed quote; the lines inside them are not counted as rows "
                "(see rejects.csv)"
            )
        if table.encoding not in ("utf-8", "binary", "database"):
            warnings.append(f"{table.path.name} was read as {table.encoding}, not UTF-8")
    warnings.extend(degenerate_inputs(customers, feedback, config, rejects))
    inputs = {
        name: {"path": t.source or str(t.path.resolve()), "sha256": t.sha256, "rows": t.rows_in, "encoding": t.encoding}
        for name, t in (("feedback", feedback_table), ("customers", customers_table))
    }
    return IngestResult(
        feedback=feedback,
        customers=customers,
        rejects=reject_frame,
        attributes=attributes,
        counts=counts,
        warnings=warnings,
        inputs=inputs,
        column_kinds=column_kinds,
    )


def _check_text_column(table: Table, config: RefineConfig) -> None:
    """Refuse a `[feedback] text` that names an id column or a column of numbers: there are no comments to read."""
    fc = config.feedback
    for key in ("customer_id", "id", "score", "timestamp"):
        if getattr(fc, key) == fc.text:
            raise RefineError(
                f"[feedback] text and [feedback] {key} both name {fc.text!r}: set text to the column holding the "
                "comments",
                where=table.where,
            )
    cells = table.frame[fc.text].str.strip()
    filled = cells[cells != ""]
    numbers = pd.to_numeric(filled.iloc[:5000], errors="coerce").notna()
    if len(filled) and numbers.mean() >= 0.95:
        raise RefineError(
            f"[feedback] text {fc.text!r} holds numbers, not comments (e.g. {redact(filled.iloc[0])[:20]!r}; "
            f"{int(numbers.sum())} of {len(numbers)} cells): set it to the column holding the comments",
            where=table.where,
        )


def _explain_unknown(rejects: list[dict], table: Table, config: RefineConfig) -> None:
    """A comment whose customer row was itself rejected (missing segment, ...) says so, not "unknown customer"."""
    fc = config.feedback
    rejected = [r for r in rejects if r["table"] == "customers" and not r["reason"].startswith("duplicate customer id")]
    why = dict(zip(id_keys(pd.Series([str(r["id"]) for r in rejected], dtype=object)), (r["reason"] for r in rejected)))
    if not why or fc.customer_id not in table.frame.columns:
        return
    keys = id_keys(table.frame[fc.customer_id])
    for reject in rejects:
        if reject["table"] == "feedback" and reject["reason"] == "unknown customer":
            reason = why.get(keys.get(reject["row"], ""))
            if reason:
                reject["reason"] = f"customer row rejected ({reason})"


def degenerate_inputs(
    customers: pd.DataFrame, feedback: pd.DataFrame, config: RefineConfig, rejects: list[dict]
) -> list[str]:
    """Warnings for inputs a run can take but can say little about, each saying what to change."""
    cc = config.customers
    notes = []
    for column in cc.outcomes:
        if column in customers.columns and customers[column].isna().all():
            notes.append(
                f"outcome column {column!r} is empty for every customer: it gives no evidence for any proposal; "
                "fill it, or remove it from [customers] outcomes"
            )
    segments = customers[cc.segment].unique()
    if len(segments) == 1:
        notes.append(
            f"every customer is in one segment ({segments[0]!r} in {cc.segment!r}): there is nothing to merge or "
            "compare; check that [customers] segment names the segment column"
        )
    blank = sum(1 for r in rejects if r["table"] == "customers" and r["reason"] == "missing segment")
    if blank and blank * 3 >= len(customers) + blank:
        lost = sum(
            1 for r in rejects if r["table"] == "feedback" and r["reason"] == "customer row rejected (missing segment)"
        )
        notes.append(
            f"{blank} of {len(customers) + blank} customers have a blank {cc.segment!r} and were rejected, with "
            f"their {lost} comments (rejects.csv: 'missing segment'); fill the segment (e.g. 'Unassigned') to "
            "keep them"
        )
    if len(feedback) == 1:
        notes.append(
            "only 1 comment was accepted: themes, sentiment by segment and proposals need many; "
            "check the feedback file and rejects.csv"
        )
    return notes


def _unmatched(table: Table, known: pd.Series, config: RefineConfig) -> str:
    """Why no feedback row found its customer, when that is what stopped the run ("" otherwise)."""
    fc = config.feedback
    if fc.customer_id not in table.frame.columns:
        return ""
    keys = id_keys(table.frame[fc.customer_id])
    unmatched = keys[(keys != "") & (known.index.get_indexer(keys) < 0)]
    if unmatched.empty:
        return ""
    return unmatched_ids_message(
        unmatched.tolist(),
        list(known.index),
        feedback_column=fc.customer_id,
        customer_column=config.customers.customer_id,
    )


def _read_input(path: str | Path | None, config: RefineConfig, what: str) -> Table:
    """The input file, or the table / query of `[feedback|customers] database` when the config names one."""
    section = getattr(config, what)
    if getattr(section, "database", ""):
        return read_database(section.database, table=section.table, query=section.query, what=what, section=what)
    if path is None:
        raise RefineError(f"no {what} given: pass the file, or set [{what}] database and table / query in the config")
    return read_table(path, what=what)


def read_customers(path: str | Path | None, config: RefineConfig) -> pd.DataFrame:
    """The customer table alone, validated and typed as ingest does (for A/B plans and decisions)."""
    table = _read_input(path, config, "customers")
    check_rows(table.rows_in, table="customer", config=config, where=table.where)
    customers, _ = _customers(table, config, [], [])
    return customers


def typed_attribute(values: pd.Series) -> pd.Series:
    """An attribute column (not the id, segment or an outcome) of the accepted customers typed as ingest
    types it: refine.run.reuse reads the columns the stage cache does not keep (id-like, free text) again."""
    column = str(values.name)
    return _day_month_dates(_typed(_decimal_commas(values, column, []), [], flags=False), [])


def rule_columns(attributes: list[str], config: RefineConfig) -> list[str]:
    """Columns a rule may name: attributes and the segment, never outcomes or excluded columns."""
    banned = set(config.customers.outcomes) | set(config.customers.exclude) | {config.customers.customer_id}
    return [c for c in attributes if c not in banned]
