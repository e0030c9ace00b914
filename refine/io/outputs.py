"""Where refine may write: a file a user names, a folder it can write in, and the lock a running cycle holds.

No command overwrites a user's file without ``--force``, and none writes onto one of its own inputs (not
even with ``--force``): an output is compared with each input by resolved path and, where both exist, by
``os.path.samefile`` (a hard link or another spelling of the same file). refine's own state (decisions.json,
caches) is not a user output: it keeps updating in place, atomically (refine.files.atomic_write).

A run folder is held by a lock file (``.refine.lock``: pid, host and start time), created with ``O_EXCL``
so two runs cannot both take it. It is removed when the run ends, fails or is interrupted (Ctrl-C, or
SIGTERM, which the lock turns into an interrupt while it is held); one left by a process that is gone
(killed with SIGKILL, a crashed machine) is stale and the next run takes it over.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from refine.errors import RefineError

LOCK_FILE = ".refine.lock"
# a lock file that cannot be read back is a run that has just created it, until it is this old
_UNREADABLE_LOCK_GRACE_S = 10.0


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: the same resolved path, or (both existing) os.path.samefile."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_file(
    path: str | Path, *, force: bool, inputs: Mapping[str, str | Path | None] = {}, what: str = "output"
) -> Path:
    """Refuse, before any work, an output file that would overwrite a file or one of the command's inputs.

    Args:
        path: the file the user named.
        force: ``--force`` was given: an existing file (never an input) is replaced.
        inputs: the command's input files by how a message names them (``{"--customers": path}``).
        what: what the file is, for messages.
    """
    path = Path(path)
    check_not_input(path, inputs, what)
    if path.is_dir():
        raise RefineError(f"the {what} path is a folder; give the file to write", where=str(path))
    if path.exists() and not force:
        raise RefineError(f"the {what} file exists; pass --force to replace it", where=str(path))
    check_writable(path.parent, what)
    return path


def check_not_input(path: str | Path, inputs: Mapping[str, str | Path | None], what: str) -> None:
    """Refuse (even with --force) an output that is one of the command's inputs."""
    for label, source in inputs.items():
        if source is not None and same_file(path, source):
            raise RefineError(f"the {what} would be written onto {label}, an input; give another file", where=str(path))


def check_writable(folder: str | Path, what: str) -> None:
    """A one-line error now, rather than after the work, when `folder` (or the parent it would be made in) is not
    a folder refine can write in: a file is created in it and removed at once."""
    folder = Path(os.path.abspath(folder))
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if existing == folder and not folder.is_dir():
        raise RefineError(f"the output path is a file; give a folder for the {what}", where=str(folder))
    if not existing.is_dir():
        raise RefineError(f"cannot make the {what} folder: {existing} is a file", where=str(folder))
    try:
        fd, probe = tempfile.mkstemp(prefix=".refine-probe.", suffix=".tmp", dir=existing)
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise RefineError(f"cannot write the {what} there ({reason})", where=str(existing)) from None
    os.close(fd)
    os.unlink(probe)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _holder(lock: Path) -> dict | None:
    """The live holder of a lock file, or None when it is stale (its process is gone) or was just removed."""
    try:
        text = lock.read_text(encoding="utf-8")
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
        pid, host = int(holder["pid"]), str(holder["host"])
    except (ValueError, KeyError, TypeError):
        return {"pid": "?", "host": "?"} if age < _UNREADABLE_LOCK_GRACE_S else None
    if host == socket.gethostname() and not _alive(pid):
        return None
    return holder  # alive here, or on another machine (which this one cannot look into)


def _held(lock: Path, holder: dict, what: str) -> RefineError:
    return RefineError(
        f"another refine {what} is writing this folder (pid {holder.get('pid')} on {holder.get('host')}, since "
        f"{holder.get('started', '?')}); wait for it to end (--force does not apply), or remove {LOCK_FILE} if "
        "no run is going",
        where=str(lock.parent),
    )


def check_unlocked(folder: str | Path, *, what: str = "run") -> None:
    """Refuse at once a folder a running refine holds (a stale lock is no obstacle: the run takes it over)."""
    lock = Path(folder) / LOCK_FILE
    holder = _holder(lock) if lock.exists() else None
    if holder is not None:
        raise _held(lock, holder, what)


def _take(lock: Path, what: str) -> str:
    """Create the lock file (O_EXCL) with this process's pid and host; take over a stale one; refuse a live one."""
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if holder is not None:
                raise _held(lock, holder, what) from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        except OSError as exc:
            reason = (exc.strerror or type(exc).__name__).lower()
            raise RefineError(f"cannot write the {what} there ({reason})", where=str(lock.parent)) from None
        started = datetime.now(UTC).isoformat(timespec="seconds")
        token = secrets.token_hex(8)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": started, "token": token}, handle)
        return token
    raise RefineError(f"could not lock the {what} folder (another run keeps taking it)", where=str(lock.parent))


def _release(lock: Path, token: str) -> None:
    """Remove the lock file if it is still the one this holder created (its token)."""
    try:
        holder = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(holder, dict) and holder.get("token") == token:
        lock.unlink(missing_ok=True)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def folder_lock(folder: str | Path, *, what: str = "run") -> Iterator[Path]:
    """Hold `folder` (created if needed) for one writer; the lock goes on exit, failure, Ctrl-C and SIGTERM.

    Yields the lock file's path. A folder this call created is removed again when it is left empty.
    """
    folder = Path(folder)
    check_writable(folder, what)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise RefineError(f"cannot make the {what} folder ({reason})", where=str(folder)) from None
    lock = folder / LOCK_FILE
    previous_handler, token = None, None
    try:
        token = _take(lock, what)
        if threading.current_thread() is threading.main_thread():
            previous_handler = signal.signal(signal.SIGTERM, _interrupt)
        yield lock
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
        if token is not None:
            _release(lock, token)
        if created:
            try:
                folder.rmdir()  # only when nothing was written
            except OSError:
                pass
