"""No import cycles among refine's modules, counting imports made inside functions too.

A cycle hidden in a function-level import (embed <-> embed_onnx, llm -> report -> pipeline before
issue 18) works until someone moves one import to the top of a file; then it fails at import time,
far from the change. The graph is read from the source with ast, so the test imports nothing.
Imports under `if TYPE_CHECKING:` never run and are left out.
"""

import ast
from pathlib import Path

import refine

PACKAGE = Path(refine.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """refine modules imported anywhere in the tree (functions included, TYPE_CHECKING blocks not)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:  # `from refine import topics` imports refine.text.themes.topics
                if f"{node.module}.{alias.name}" in modules:
                    found.add(f"{node.module}.{alias.name}")
            if node.module in modules and not any(f"{node.module}.{a.name}" in modules for a in node.names):
                found.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    graph = {}
    for path in paths:
        name = _module_name(path)
        # `from refine import __version__` reaches refine/__init__.py, which every module passes through anyway
        graph[name] = _imports(ast.parse(path.read_text(encoding="utf-8")), modules) - {name, "refine"}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                found = walk(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = walk(node)
            if found:
                return found
    return None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_function_level_cycles():
    """The check itself: a cycle made only of imports inside functions is found."""
    source_a = "def f():\n    from refine.b import g\n"
    source_b = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from refine.c import x\ndef g():\n    import refine.a\n"
    modules = {"refine.a", "refine.b", "refine.c"}
    graph = {
        "refine.a": _imports(ast.parse(source_a), modules),
        "refine.b": _imports(ast.parse(source_b), modules),
        "refine.c": set(),
    }
    assert graph["refine.b"] == {"refine.a"}  # the TYPE_CHECKING import is not an edge
    assert find_cycle(graph) == ["refine.a", "refine.b", "refine.a"]
    assert find_cycle({"refine.a": {"refine.b"}, "refine.b": set()}) is None
