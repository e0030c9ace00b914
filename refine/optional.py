"""Optional parts of refine, installed as extras: a missing one is a one-line "install refine[x]" error.

Modules that need an optional library import it inside the function that uses it, through
`require`, so `import refine...` never fails for a library that only one setting needs.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from refine.errors import RefineError

# extra -> the modules it provides (as imported), for messages and checks
EXTRAS: dict[str, tuple[str, ...]] = {
    "onnx": ("onnxruntime", "onnx"),
    "dask": ("distributed",),
}


def missing(extra: str) -> list[str]:
    """The modules of `extra` that cannot be imported here (none when it is installed)."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def check_extra(extra: str, needed_for: str, where: str | None = None) -> None:
    """A one-line RefineError naming `pip install "refine[extra]"` when the extra is not installed."""
    absent = missing(extra)
    if absent:
        raise RefineError(
            f'{needed_for} needs the optional {", ".join(absent)} (not installed): pip install "refine[{extra}]"',
            where=where,
        )


def require(extra: str, module: str, needed_for: str, where: str | None = None) -> ModuleType:
    """Import `module` from `extra`, or raise the one-line install message."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise RefineError(
            f'{needed_for} needs the optional {module.split(".")[0]} (not installed): pip install "refine[{extra}]"',
            where=where,
        ) from None
