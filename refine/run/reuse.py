"""Ingest kept in the stage cache (refine.memo): a warm rerun of the same month reads neither input again.

The key is the content of both input files (sha256 of their bytes, the same figure run.json records), their
names, the config (all of it but `[run]`), the library versions and the source of the modules that read,
validate and redact them. The entry holds what ingest returns, with one rule for the customer table: only
what later stages read is stored (ids, segment, the attributes the search reads, outcomes, value). Its
id-like and free-text columns (the ones the proposal search skips) never reach the cache: a warm rerun
reads them again from the customer file, typed as ingest types them. And an entry whose stored cells would
hold an e-mail, phone or card number (refine.io.privacy) is not stored at all: that month's reruns read both
files again. Numeric columns count too: a whole number of seven digits and more is read as digits (a phone
number held as a number, 4155550132, is one). Inputs read from a database are never cached (their content
has no file to hash).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from refine import schemas as S
from refine.io import config as config_module
from refine.io import dates as dates_module
from refine.io import ingest as ingest_module
from refine.io import keys as keys_module
from refine.io import limits as limits_module
from refine.io import privacy as privacy_module
from refine.io import tables as tables_module
from refine.io.config import RefineConfig
from refine.io.ingest import IngestResult, ingest, read_table, typed_attribute
from refine.io.limits import ColumnKinds
from refine.io.privacy import redact
from refine.io.tables import id_keys
from refine.memo import Digest, StageMemo, code_digest

STAGE = "ingest"
# cells worth a closer look (refine.io.privacy decides): an at sign (full-width and small ones too), or seven
# digits with at most four other characters between each two (415_555_0132, 415\u2013555\u2013\u200b0132)
_SUSPECT = r"[@\uFF20\uFE6B]|(?:\d\D{0,4}){6}\d"


def ingest_key(feedback_path, customers_path, config: RefineConfig, versions: dict[str, str]) -> str | None:
    """Digest of everything ingest reads, or None when an input is not a file (a database table or query)."""
    if config.feedback.database or config.customers.database or feedback_path is None or customers_path is None:
        return None
    paths = [Path(feedback_path), Path(customers_path)]
    if not all(path.is_file() for path in paths):
        return None  # ingest says what is wrong with it
    settings = {name: part for name, part in config.to_dict().items() if name != "run"}
    digest = Digest(
        STAGE,
        versions,
        code_digest(  # what reads, types and redacts both files, the column names, and this module's own format
            ingest_module,
            tables_module,
            privacy_module,
            limits_module,
            config_module,
            dates_module,
            keys_module,
            S,
            sys.modules[__name__],
        ),
        settings,
    )
    for path in paths:
        with open(path, "rb") as handle:
            digest.add(path.name, hashlib.file_digest(handle, "sha256").hexdigest())
    return digest.hexdigest()


def cached_ingest(memo: StageMemo, feedback_path, customers_path, config: RefineConfig, versions) -> IngestResult:
    """`ingest(...)`, from the stage cache when both files and the settings are as a run before saw them."""
    key = ingest_key(feedback_path, customers_path, config, versions)
    if key is None:
        return ingest(feedback_path, customers_path, config)
    stored = memo.load(STAGE, key)
    frames = memo.frames(STAGE, key) if stored is not None else None
    if stored is not None and frames is not None and {"feedback", "customers", "rejects"} <= set(frames):
        restored = _restore(stored[0], frames, feedback_path, customers_path, config)
        if restored is not None:
            return restored
    data = ingest(feedback_path, customers_path, config)
    document, stored_frames = _payload(data, config)
    if not _holds_personal_data(document, stored_frames):
        memo.store(STAGE, key, document, frames=stored_frames)
    else:
        memo.used[STAGE] = "computed"
    return data


def _skipped(data: IngestResult, config: RefineConfig) -> list[str]:
    """The customer columns the cache does not keep: id-like and free text (never the id or the segment)."""
    cc = config.customers
    keep = {cc.customer_id, cc.segment, cc.value, *cc.outcomes}
    return [c for c in data.column_kinds.skipped if c in data.customers.columns and c not in keep]


def _payload(data: IngestResult, config: RefineConfig) -> tuple[dict, dict[str, pd.DataFrame]]:
    skipped = _skipped(data, config)
    document = {
        "counts": data.counts,
        "warnings": data.warnings,
        "inputs": {name: {k: v for k, v in entry.items() if k != "path"} for name, entry in data.inputs.items()},
        "attributes": data.attributes,
        "kinds": data.column_kinds.kinds,
        "levels": data.column_kinds.levels,
        "columns": [str(c) for c in data.customers.columns],
        "skipped": skipped,
    }
    frames = {
        "feedback": data.feedback,
        "customers": data.customers.drop(columns=skipped),
        "rejects": data.rejects,
    }
    return document, frames


def _restore(document, frames, feedback_path, customers_path, config: RefineConfig) -> IngestResult | None:
    """The stored result, with the skipped customer columns read again; None where they cannot be matched."""
    customers = frames["customers"]
    if document["skipped"]:
        table = read_table(customers_path, what="customers")
        cc = config.customers
        keys = id_keys(table.frame[cc.customer_id])
        first = keys.drop_duplicates(keep="first")  # an accepted customer is the first row with its id
        rows = pd.Index(first.to_numpy()).get_indexer(id_keys(customers[cc.customer_id]).to_numpy())
        if (rows < 0).any():
            return None
        picked = table.frame.loc[first.index[rows]]
        for column in document["skipped"]:
            customers[column] = typed_attribute(picked[column].reset_index(drop=True))
        customers = customers[document["columns"]]
    inputs = json.loads(json.dumps(document["inputs"]))
    for name, path in (("feedback", feedback_path), ("customers", customers_path)):
        inputs[name] = {"path": str(Path(path).resolve()), **inputs[name]}
    return IngestResult(
        feedback=frames["feedback"],
        customers=customers,
        rejects=frames["rejects"],
        attributes=list(document["attributes"]),
        counts=dict(document["counts"]),
        warnings=list(document["warnings"]),
        inputs=inputs,
        column_kinds=ColumnKinds(dict(document["kinds"]), dict(document["levels"])),
    )


def _holds_personal_data(document: dict, frames: dict[str, pd.DataFrame]) -> bool:
    """Whether a text the entry would store holds an e-mail, phone or card number (the redacted comments aside:
    they hold placeholders only)."""
    texts = [*document["warnings"], *document["attributes"], *document["columns"]]
    for name, frame in frames.items():
        for column in frame.columns:
            if name == "feedback" and column == S.TEXT:
                continue
            values = frame[column]
            if values.dtype == object or pd.api.types.is_string_dtype(values):
                cells = pd.Series(values.dropna().astype(str).unique())
                texts.extend(cells[cells.str.contains(_SUSPECT, regex=True)].tolist())
            elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                if column != S.ROW:  # refine's own row numbers (past a million in a big file), not a cell
                    texts.extend(_long_whole_numbers(values))
    return any(redact(text) != text for text in texts)


def _long_whole_numbers(values: pd.Series) -> list[str]:
    """The whole numbers of seven digits and more in a numeric column, written out as digits: a phone or card
    number held as a number (4155550132) is one of them. A large amount in whole units (1250000) is one too,
    so such a month's entry is not stored either (a cost in speed only)."""
    numbers = pd.to_numeric(values.dropna(), errors="coerce").astype(float).to_numpy()
    numbers = np.unique(np.abs(numbers[np.isfinite(numbers)]))
    long = numbers[(numbers >= 1e6) & (numbers < 1e19) & (numbers == np.floor(numbers))]
    return [str(int(number)) for number in long]
