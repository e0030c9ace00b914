"""What every refine command shares: user mistakes become one line on stderr and exit status 2."""

from __future__ import annotations

import errno
import functools

import typer

from refine.errors import RefineError

# OSErrors that say a path given on the command line or in the config is the wrong kind of thing
_PATH_MISTAKES = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EROFS, errno.ELOOP}


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def handle_errors(command):
    """Turn user mistakes into one line on stderr and exit status 2 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RefineError as exc:
            fail(str(exc))
        except PermissionError as exc:
            fail(f"permission denied: {exc.filename}")
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                fail("no space left on the device")
            if exc.errno in _PATH_MISTAKES:  # a path that names a file where a folder must be, or the reverse
                where = exc.filename if exc.filename is not None else "a path given"
                fail(
                    f"{where}: {exc.strerror.lower() if exc.strerror else type(exc).__name__}"
                    f"{' (and ' + str(exc.filename2) + ')' if exc.filename2 else ''}"
                )
            raise
        except KeyboardInterrupt:
            fail("interrupted; run the same command again to resume from the cache", code=130)

    return wrapper
