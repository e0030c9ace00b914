"""Stage results kept in the cache folder, keyed by everything the stage reads.

A rerun of the same month recomputes nothing that has not changed. The embedding cache
(refine.text.embed) covers the texts. This module covers two more stages, each keyed by a digest of its
inputs, its settings, the seed, the versions of refine and its libraries, and the source code of
the modules that compute it:

* the topic fit (texts, embeddings, [topics], seed, last month's topics);
* the proposal search (customer table, joined feedback, respondents, the whole config, seed);
* ingest (the bytes of both input files, the config, refine.run.reuse): the accepted rows, as Parquet;
* the insights stage (joined feedback, customers, config, themes, proposals, the earlier runs' files).

Change one customer, one text, one setting or one line of those modules and the key changes, so
the stage runs again. A stored result is what the run folder holds anyway: topics (keywords,
redacted quotes, centroids, one topic id per text) and proposals (rules, evidence, redacted
quotes). Of the customer table only what later stages read is stored (ids, segment, the attributes the
search reads, outcomes), never its id-like and free-text columns, and no entry is stored whose cells hold an
e-mail, phone or card number (refine.run.reuse).

Payloads are JSON plus an ``.npz`` of arrays (never pickle: loading a pickle runs code, and a cache
folder may be shared). The JSON file is written last, so an entry without it is unfinished and
ignored. A missing, unfinished or unreadable entry is a miss, never an error. Delete
``<cache>/stages`` at any time to drop them all.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from refine.files import atomic_write

FORMAT = 1  # bump when the payload layout changes


class Digest:
    """sha256 over a sequence of values, each framed by its type and length (so 'ab','c' != 'a','bc')."""

    def __init__(self, *values: Any):
        self._h = hashlib.sha256()
        self.add(FORMAT, *values)

    def add(self, *values: Any) -> Digest:
        for value in values:
            self._add(value)
        return self

    def _frame(self, tag: str, payload: bytes | memoryview) -> None:
        size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
        self._h.update(f"{tag}:{size}:".encode())
        self._h.update(payload)

    def _add(self, value: Any) -> None:
        if isinstance(value, np.ndarray):
            array = np.ascontiguousarray(value)  # no copy when it is contiguous already (an embedding matrix)
            # its bytes read in place, not copied out (`tobytes` held a second embedding matrix): the same digest
            self._frame(f"nd{array.dtype.str}{array.shape}", _bytes_of(array))
        elif isinstance(value, pd.DataFrame):
            self._frame("df", json.dumps([list(map(str, value.columns)), [str(t) for t in value.dtypes]]).encode())
            self._add(pd.util.hash_pandas_object(value, index=True).to_numpy())
        elif isinstance(value, pd.Series):
            self._frame("series", f"{value.name}|{value.dtype}".encode())
            self._add(pd.util.hash_pandas_object(value, index=True).to_numpy())
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            self._frame("strs", "\x00".join(value).encode("utf-8", "surrogatepass"))
            self._frame("n", str(len(value)).encode())
        elif isinstance(value, bytes):
            self._frame("bytes", value)
        else:
            self._frame("json", json.dumps(value, sort_keys=True, default=_plain).encode("utf-8", "surrogatepass"))

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _bytes_of(array: np.ndarray) -> bytes | memoryview:
    """A contiguous array's bytes: read in place where numpy lends them as a buffer, else copied."""
    try:
        return array.data.cast("B") if array.size else b""  # ndarray.data: a memoryview of its buffer
    except (TypeError, ValueError):  # object, datetime and other dtypes no buffer carries
        return array.tobytes()


def code_digest(*modules: ModuleType) -> str:
    """Digest of the source files of `modules`: a code change invalidates what they computed."""
    digest = Digest()
    for module in modules:
        digest.add(module.__name__, Path(inspect.getfile(module)).read_bytes())
    return digest.hexdigest()


def _plain(value: Any):
    """JSON for numpy scalars and arrays, exactly (floats round-trip through JSON unchanged)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (pd.Timestamp, Path)):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in the stage cache")


class StageMemo:
    """Stored results per stage and key under ``<cache>/stages``; ``StageMemo(None)`` stores nothing."""

    def __init__(self, cache_dir: Path | None):
        self.root = Path(cache_dir) / "stages" if cache_dir is not None else None
        self.used: dict[str, str] = {}  # stage -> "reused" | "computed", for run.json

    def _entry(self, stage: str, key: str) -> Path:
        assert self.root is not None
        return self.root / stage / key[:2] / key

    def load(self, stage: str, key: str) -> tuple[Any, dict[str, np.ndarray]] | None:
        """(document, arrays) stored for this stage and key, or None."""
        if self.root is None:
            return None
        entry = self._entry(stage, key)
        try:
            document = json.loads((entry / "result.json").read_text(encoding="utf-8"))
            arrays: dict[str, np.ndarray] = {}
            if (entry / "arrays.npz").exists():
                with np.load(entry / "arrays.npz", allow_pickle=False) as stored:
                    arrays = {name: stored[name] for name in stored.files}
        except (OSError, ValueError, KeyError):
            return None
        if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("key") != key:
            return None
        self.used[stage] = "reused"
        return document["value"], arrays

    def frames(self, stage: str, key: str) -> dict[str, pd.DataFrame] | None:
        """The tables stored beside an entry (Parquet, dtypes kept), or None where one is unreadable."""
        if self.root is None:
            return None
        try:
            return {p.stem: pd.read_parquet(p) for p in sorted(self._entry(stage, key).glob("*.parquet"))}
        except (OSError, ValueError, ImportError):
            return None

    def reuse_or_compute(
        self,
        stage: str,
        key: str,
        compute: Callable[[], Any],
        *,
        save: Callable[[Any], tuple[Any, dict[str, np.ndarray]]],
        restore: Callable[[Any, dict[str, np.ndarray]], Any],
    ) -> tuple[Any, bool]:
        """(result, reused): the stored result for this key, else compute() stored through save()."""
        stored = self.load(stage, key)
        if stored is not None:
            return restore(*stored), True
        value = compute()
        self.store(stage, key, *save(value))
        return value, False

    def store(
        self,
        stage: str,
        key: str,
        value: Any,
        arrays: dict[str, np.ndarray] | None = None,
        frames: dict[str, pd.DataFrame] | None = None,
    ) -> None:
        """Keep a result (`frames` as Parquet files); a failure to write (full disk, read-only cache) only
        costs the reuse."""
        self.used[stage] = "computed"
        if self.root is None:
            return
        entry = self._entry(stage, key)
        try:
            entry.mkdir(parents=True, exist_ok=True)
            if arrays:
                atomic_write(entry / "arrays.npz", lambda tmp: _save_arrays(tmp, arrays))
            for name, frame in (frames or {}).items():
                atomic_write(entry / f"{name}.parquet", _frame_writer(frame))
            text = json.dumps({"format": FORMAT, "key": key, "value": value}, default=_plain, allow_nan=True)
            atomic_write(entry / "result.json", lambda tmp: tmp.write_bytes(text.encode("utf-8", "surrogatepass")))
        except OSError:
            return


def _frame_writer(frame: pd.DataFrame) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        frame.to_parquet(tmp)

    return write


def _save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as handle:  # a handle: np.savez would add ".npz" to a path without it
        np.savez(handle, allow_pickle=False, **arrays)
