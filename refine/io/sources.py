"""Read feedback or customers straight from a database: a SQLAlchemy URL plus a table or a query.

    [feedback]
    database = "postgresql://cx_reader:${PGPASSWORD}@warehouse.internal/cx"
    query = "select * from survey_answers where answered_at >= date_trunc('month', now()) - interval '1 month'"

The rows are read in chunks (``pd.read_sql(..., chunksize=...)``) and each chunk is turned into the
text cells ``refine.io.ingest.read_table`` produces for a file, then dropped, so a large table is held
once (as the text cells validation needs), not twice. The result is the same ``Table``: validation,
redaction and reject accounting are the file path's, row for row (``row`` = 1-based position in the
result set; give an ``order by`` in the query for a stable numbering).

Credentials never live in the config: a password in the URL must be a ``${NAME}`` placeholder,
expanded from the environment only when connecting (or leave it out and let the driver read its
own variables, e.g. libpq's ``PGPASSWORD`` / ``~/.pgpass``). The URL recorded in run.json, the
report and any message is the one with the password removed, and error messages from the driver
have every expanded value blanked out.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from refine.errors import RefineError
from refine.io.tables import Table, _cell

CHUNK_ROWS = 50_000
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def looks_like_url(text: str | None) -> bool:
    return bool(text) and bool(re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", str(text)))


def check_source(section: str, database: str, table: str, query: str, where: str) -> None:
    """Config-time checks: a URL, exactly one of table / query, and no literal password."""
    if not database:
        if table or query:
            raise RefineError(f"[{section}] table / query need [{section}] database (a SQLAlchemy URL)", where=where)
        return
    if not looks_like_url(database):
        raise RefineError(
            f'[{section}] database must be a SQLAlchemy URL such as "postgresql://user@host/db", '
            f'"sqlite:///path/to.db" or "duckdb:///path/to.duckdb"',
            where=where,
        )
    if bool(table) == bool(query):
        raise RefineError(f"[{section}] give exactly one of table or query with database", where=where)
    password = _password(database)
    if password and not _PLACEHOLDER.fullmatch(password):
        raise RefineError(
            f"[{section}] database holds a password: write it as ${{NAME}} and set the environment variable "
            f"NAME (or leave it out and let the driver read its own, e.g. PGPASSWORD); the config is stored "
            f"with every run",
            where=where,
        )


def _password(url: str) -> str | None:
    """The password part of scheme://user:password@host/..., as written (placeholders unexpanded)."""
    rest = url.split("://", 1)[1]
    authority = rest.split("/", 1)[0]
    if "@" not in authority:
        return None
    userinfo = authority.rsplit("@", 1)[0]
    return userinfo.split(":", 1)[1] if ":" in userinfo else None


def safe_url(url: str) -> str:
    """The URL with any password replaced by ***: what run.json, reports and messages show."""
    password = _password(url) if looks_like_url(url) else None
    if not password:
        return url
    scheme, rest = url.split("://", 1)
    authority, _, tail = rest.partition("/")
    userinfo, host = authority.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" + (f"/{tail}" if tail or rest.endswith("/") else "")


def expand(url: str, section: str) -> tuple[str, list[str]]:
    """``${NAME}`` placeholders replaced from the environment; returns the URL and the secrets used."""
    secrets = []

    def swap(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise RefineError(f"[{section}] database uses ${{{name}}} but the environment variable {name} is not set")
        value = os.environ[name]
        if value:
            secrets.append(value)
        return quote(value, safe="")

    return _PLACEHOLDER.sub(swap, url), secrets


def _scrub(message: str, secrets: list[str]) -> str:
    for secret in secrets:
        for form in {secret, quote(secret, safe="")}:
            message = message.replace(form, "***")
    return message


def describe(database: str, table: str, query: str) -> str:
    what = f"table {table}" if table else "query"
    return f"{safe_url(database)} ({what})"


def _text_cells(values: pd.Series, cell) -> pd.Series:
    """A result column as the text cells a file gives: blank for NULL, whole floats without ".0"."""
    values = values.reset_index(drop=True)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        out = values.where(values.notna(), "").astype("str")
        return out.str.replace("\x00", "", regex=False)
    if pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("str")
    return values.astype(object).where(values.notna(), "").map(cell).astype("str")


def read_database(
    database: str, *, table: str = "", query: str = "", what: str, section: str, chunk_rows: int = CHUNK_ROWS
):
    """Read a table or query result into the text-cell ``Table`` that ``read_table`` returns for a file.

    Args:
        database: SQLAlchemy URL, ``${NAME}`` placeholders expanded from the environment.
        table: a table (or view) name, ``schema.table`` allowed; or
        query: a SELECT statement.
        what: "feedback" or "customers", for messages.
        section: the config section, for messages.
        chunk_rows: rows fetched per chunk.

    Returns:
        refine.io.ingest.Table whose ``source`` is the URL without its password.
    """
    try:
        import sqlalchemy as sa
    except ImportError:  # pragma: no cover - an optional extra
        raise RefineError(f"[{section}] database needs SQLAlchemy: pip install 'refine[db]'") from None
    shown = describe(database, table, query)
    url, secrets = expand(database, section)
    digest = hashlib.sha256()
    columns: list[str] | None = None
    cells: dict[str, list[pd.Series]] = {}  # per column, each chunk's cells as pandas strings
    rows = 0
    try:
        engine = sa.create_engine(url)
    except Exception as exc:
        raise RefineError(
            f"cannot open the {what} database ({type(exc).__name__}: {_scrub(str(exc).splitlines()[0][:200], secrets)})",
            where=safe_url(database),
        ) from None
    try:
        if table:
            names = table.split(".")
            if not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$ ]*", n) for n in names) or len(names) > 2:
                raise RefineError(f"[{section}] table {table!r} is not a plain (schema.)table name", where=shown)
            preparer = engine.dialect.identifier_preparer
            statement = sa.text("select * from " + ".".join(preparer.quote(n) for n in names))
        else:
            statement = sa.text(query)
        with engine.connect() as connection:
            for chunk in pd.read_sql(statement, connection, chunksize=chunk_rows):
                if columns is None:
                    columns = [str(c).strip() for c in chunk.columns]
                    if len(set(columns)) != len(columns):
                        raise RefineError(f"the {what} result has repeated column names; alias them", where=shown)
                    cells = {c: [] for c in columns}
                    digest.update(("\x1f".join(columns) + "\n").encode("utf-8"))
                for position, column in enumerate(columns):
                    # the chunk's python objects are dropped here; only the string column is kept
                    text = _text_cells(chunk.iloc[:, position], _cell)
                    digest.update(("\x1f".join(text.tolist()) + "\x1e").encode("utf-8", "surrogatepass"))
                    cells[column].append(text)
                rows += len(chunk)
                del chunk
    except RefineError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else ""
        raise RefineError(
            f"cannot read {what} from the database ({type(exc).__name__}: {_scrub(first, secrets)})", where=shown
        ) from None
    finally:
        engine.dispose()
    if columns is None:  # a query with no result set rows still has columns; a statement without any does not
        raise RefineError(f"the {what} query returned no columns", where=shown)
    if rows:
        frame = pd.DataFrame({c: pd.concat(cells.pop(c), ignore_index=True) for c in columns}, columns=columns)
    else:
        frame = pd.DataFrame(columns=columns, dtype="str")  # the text cells a delimited file gives
    frame.index = pd.RangeIndex(1, rows + 1)
    return Table(
        path=Path(what),
        frame=frame,
        bad_rows=[],
        sha256=digest.hexdigest(),
        encoding="database",
        rows_in=rows,
        source=shown,
    )
