"""What every refine command shares: the Typer settings, lazily loaded library modules, and user mistakes
as one line on stderr with exit status 2."""

from __future__ import annotations

import errno
import functools
import importlib.util
import re
import sys
from types import ModuleType
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from refine.errors import RefineError

# OSErrors that say a path given on the command line or in the config is the wrong kind of thing
_PATH_MISTAKES = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EROFS, errno.ELOOP}


class CommandGroup(TyperGroup):
    """Lists each sub-command with its whole summary (click alone cuts it to one line ending in "...")."""

    def format_commands(self, ctx, formatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=sys.maxsize)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class Command(TyperCommand):
    """A command with arguments: its usage line names them as click does (`accept [OPTIONS] PROPOSAL`,
    `init [OPTIONS] [PATH]`), not as Typer 0.29 does (`{proposal}`, which reads as a template left unfilled)."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [_ARGUMENT.sub(lambda m: m[1].upper() if m[1] else f"[{m[2].upper()}]", piece) for piece in pieces]


_ARGUMENT = re.compile(r"^\{(\w+)\}|^\[(\w+)\]")  # required {name}, optional [name]


# every Typer app and sub-app: -h as well as --help; help text printed as written (no rich markup, which would
# eat "[feedback]" and "[model]", and no <bool> after a flag)
APP_SETTINGS: dict[str, Any] = {
    "context_settings": {"help_option_names": ["-h", "--help"]},
    "rich_markup_mode": None,
    "cls": CommandGroup,
}


def lazy_module(name: str) -> ModuleType:
    """The module `name`, whose code runs on first attribute access, so that `refine --help` loads no library.

    Built on `importlib.util.LazyLoader`: the module object is created and put in `sys.modules` at once (a later
    `import` gets the same object); an already-imported module is returned as is. The packages above it are
    imported as usual, so name a module under light packages (`refine.run.cycle`), or a package itself
    (`refine.experiment`, whose `__init__` loads the whole experiment stage).
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)  # as `import refine.run.cycle` binds cycle on refine.run
    return module


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
