"""Writing files so that a reader never sees half of one (the one atomic-write helper), and reading JSON back."""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from refine.errors import RefineError


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> None:
    """Write `path` through a temporary file beside it, renamed into place only once `write` returns.

    `write` receives the temporary path and fills it (``lambda tmp: frame.to_parquet(tmp)``). A
    failure or an interrupt removes the temporary file and leaves any earlier `path` untouched; the
    temporary name starts with a dot and ends in ``.tmp``, so a killed writer's leftovers are easy
    to find (``.NAME.*.tmp``). The parent folder is created if needed. For a writer that wants an
    open file, open it inside: ``lambda tmp: np.savez(open(tmp, "wb"), ...)`` would leak the handle,
    so write ``with open(tmp, "wb") as handle: ...`` in a small function.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temporary(path)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _new_temporary(path: Path) -> str:
    """An empty, new temporary file beside `path`, created with the permissions the umask gives.

    tempfile.mkstemp creates 0600 whatever the umask, so colleagues and a web server serving the
    reports could not open a run's files; like any file a program writes, refine's are 0666 less the
    umask (0644 under the usual 022, 0640 under 027). A stricter umask is the way to keep them private.
    """
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return str(tmp)
    raise FileExistsError(f"no free temporary name beside {path}")  # pragma: no cover - 100 collisions


def write_text(path: Path, text: str) -> None:
    """UTF-8 text, written atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_json(path: Path, what: str) -> Any:
    """A JSON file, or a one-line RefineError naming it (`what`) when it is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RefineError(f"{what} not found", where=str(path)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RefineError(f"{what} is not valid JSON ({exc})", where=str(path)) from None


def clean_json(value: Any) -> Any:
    """NaN and infinities become null, so the JSON files stay standard JSON; floats keep 8 significant digits."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(f"{float(value):.8g}")
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
