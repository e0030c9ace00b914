"""What every refine command shares: user mistakes become one line on stderr and exit status 2."""

from __future__ import annotations

import functools

import typer

from refine.errors import RefineError


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
            if exc.errno == 28:
                fail("no space left on the device")
            raise
        except KeyboardInterrupt:
            fail("interrupted; run the same command again to resume from the cache", code=130)

    return wrapper
