"""The command line: a thin Typer layer over the library (`refine.cli.main:app`).

Each command parses its options, loads the config, calls one library function and prints; a user mistake
(`refine.errors.RefineError`) becomes one line on stderr and exit status 2 (`common`). Modules: `main` (the app
and the cycle commands), `ab`, `sentiment` and `themes` (their sub-commands), `common` (what they share).
"""

from refine.cli.main import app

__all__ = ["app"]
