"""Writing files so that a reader never sees half of one: the one atomic-write helper."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
