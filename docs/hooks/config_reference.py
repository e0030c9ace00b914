"""MkDocs hook: the configuration reference, generated from refine/io/config.py at build time.

refine/io/config.py declares each ``[section]`` of refine.toml as a dataclass (``SECTIONS`` maps the
section name to it), each key a field with its type, its default and a ``# comment`` saying what it
means. This hook reads that file with ``ast`` and ``tokenize`` (refine is not imported) and replaces
the marker ``<!-- config-reference -->`` in configuration.md with one table per section, and
``<!-- config-template -->`` with the commented template ``refine init`` writes. A key added to the
config therefore appears in the docs without anyone editing them; tests/test_docs.py checks it.
"""

from __future__ import annotations

import ast
import html
import io
import json
import tokenize
from pathlib import Path
from typing import Any, NamedTuple

CONFIG_FILE = Path(__file__).resolve().parents[2] / "refine" / "io" / "config.py"
REFERENCE_MARKER = "<!-- config-reference -->"
TEMPLATE_MARKER = "<!-- config-template -->"

TYPE_WORDS = {
    "str": "string",
    "int": "whole number",
    "float": "number",
    "bool": "true / false",
    "list[str]": "list of strings",
    "list[float]": "[low, high]",
}


class Key(NamedTuple):
    """One key of one section: what the dataclass field declares."""

    name: str
    type: str
    default: str
    meaning: str
    allowed: str = ""


class Section(NamedTuple):
    """One ``[section]``: its dataclass, docstring and keys in declaration order."""

    name: str
    cls: str
    doc: str
    keys: list[Key]


def _comments(source: str) -> dict[int, str]:
    """Every ``# comment`` of the file by line number, without the ``#``."""
    found: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0]] = token.string.lstrip("#").strip()
    return found


def _assigned(tree: ast.Module, name: str) -> ast.expr | None:
    """The value of the module-level assignment ``name = ...`` (annotated or not), or None."""
    for node in tree.body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return node.value  # type: ignore[attr-defined]
    return None


def _constants(tree: ast.Module) -> dict[str, Any]:
    """Module-level ``NAME = literal`` assignments (e.g. DEFAULT_MODEL), to show a default by value."""
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return out


def _toml(value: Any) -> str:
    """A Python default written as it would be in refine.toml."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def _default(node: ast.expr | None, constants: dict[str, Any]) -> str:
    if node is None:
        return "required"
    if isinstance(node, ast.Name) and node.id in constants:
        return _toml(constants[node.id])
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "field":
        for keyword in node.keywords:
            if keyword.arg == "default_factory" and isinstance(keyword.value, ast.Name):
                return _toml({"list": [], "dict": {}}.get(keyword.value.id, keyword.value.id))
            if keyword.arg == "default":
                return _default(keyword.value, constants)
    try:
        return _toml(ast.literal_eval(node))
    except ValueError:
        return ast.unparse(node)


def _type(annotation: str) -> str:
    annotation = annotation.replace(" ", "")
    optional = annotation.endswith("|None")
    base = annotation.removesuffix("|None")
    word = TYPE_WORDS.get(base, base)
    return f"{word}, optional" if optional else word


def _ranges(tree: ast.Module) -> dict[tuple[str, str], str]:
    """``_RANGES`` (section, key, lowest, highest), as the allowed span of each key it lists."""
    value = _assigned(tree, "_RANGES")
    if value is not None:
        try:
            rows = ast.literal_eval(value)
        except ValueError:
            return {}
        return {
            (section, key): f"{low} to {high}" if high is not None else f"at least {low}"
            for section, key, low, high in rows
        }
    return {}


def read_sections(path: Path = CONFIG_FILE) -> list[Section]:
    """The sections of refine.toml as config.py declares them, in ``SECTIONS`` order."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    comments = _comments(source)
    constants = _constants(tree)
    ranges = _ranges(tree)
    lines = source.splitlines()
    section_of: dict[str, str] = {}
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (getattr(node, "targets", [None]) or [None])[0]
        if isinstance(target, ast.Name) and target.id == "SECTIONS" and isinstance(node.value, ast.Dict):
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(value, ast.Name):
                    section_of[value.id] = key.value
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    sections = []
    for cls_name, section in sorted(section_of.items(), key=lambda item: list(section_of.values()).index(item[1])):
        cls = classes[cls_name]
        keys = []
        for statement in cls.body:
            if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
                continue
            # the comment at the end of the field's line, else the comment lines right above it
            meaning = comments.get(statement.end_lineno or statement.lineno, "")
            if not meaning:
                above = []
                line = statement.lineno - 1
                while line >= 1 and lines[line - 1].strip().startswith("#"):
                    above.insert(0, comments.get(line, ""))
                    line -= 1
                meaning = " ".join(above)
            name = statement.target.id
            keys.append(
                Key(
                    name=name,
                    type=_type(ast.unparse(statement.annotation)),
                    default=_default(statement.value, constants),
                    meaning=meaning,
                    allowed=ranges.get((section, name), ""),
                )
            )
        sections.append(Section(section, cls_name, ast.get_docstring(cls) or "", keys))
    return sections


def _cell(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|")


def reference_markdown(path: Path = CONFIG_FILE) -> str:
    """One table per section: key, type, default, meaning (and the allowed range where config.py checks one)."""
    parts = []
    for section in read_sections(path):
        parts.append(f"## `[{section.name}]`\n")
        if section.doc:
            parts.append(_cell(section.doc) + "\n")
        parts.append(f"Declared by `{section.cls}` in `refine/io/config.py`.\n")
        parts.append("| key | type | default | meaning |")
        parts.append("| --- | --- | --- | --- |")
        for key in section.keys:
            required = key.name in _REQUIRED.get(section.name, ())
            default = "required in a config file" if required else f"`{key.default}`"
            if key.default == "not set":
                default = "not set"
            meaning = key.meaning
            if key.allowed:
                meaning = f"{meaning} (allowed: {key.allowed})" if meaning else f"allowed: {key.allowed}"
            parts.append(f"| `{key.name}` | {_cell(key.type)} | {default} | {_cell(meaning)} |")
        parts.append("")
    return "\n".join(parts)


# the four keys load_config requires in a config file (their dataclass default is an empty string)
_REQUIRED = {"feedback": ("customer_id", "text"), "customers": ("customer_id", "segment")}


def template_text(path: Path = CONFIG_FILE) -> str:
    """CONFIG_TEMPLATE: the commented refine.toml that ``refine init`` writes."""
    value = _assigned(ast.parse(path.read_text(encoding="utf-8")), "CONFIG_TEMPLATE")
    return str(value.value) if isinstance(value, ast.Constant) else ""


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 - MkDocs hook signature
    """Fill the markers of configuration.md; every other page passes through unchanged."""
    if REFERENCE_MARKER in markdown:
        markdown = markdown.replace(REFERENCE_MARKER, reference_markdown())
    if TEMPLATE_MARKER in markdown:
        markdown = markdown.replace(TEMPLATE_MARKER, "```toml\n" + template_text().rstrip("\n") + "\n```")
    if CATALOGUE_MARKER in markdown:
        markdown = markdown.replace(CATALOGUE_MARKER, catalogue_markdown())
    return markdown


CATALOGUE_FILE = Path(__file__).resolve().parents[2] / "tests" / "test_bad_input_catalogue.py"
CATALOGUE_MARKER = "<!-- bad-input-catalogue -->"


def catalogue_rows(path: Path = CATALOGUE_FILE) -> list[tuple[str, str, int, str]]:
    """(case, message fragment, exit code, verdict) of each row of CATALOGUE in tests/test_bad_input_catalogue.py."""
    value = _assigned(ast.parse(path.read_text(encoding="utf-8")), "CATALOGUE")
    if not isinstance(value, ast.List):
        return []
    rows = []
    for element in value.elts:
        if isinstance(element, ast.Tuple) and len(element.elts) == 6:
            case, fragment, code, verdict = (ast.literal_eval(element.elts[i]) for i in (0, 3, 4, 5))
            rows.append((case, fragment, code, verdict))
    return rows


VERDICTS = ("clear error", "handled", "silent wrong", "data loss")


def catalogue_counts(path: Path = CATALOGUE_FILE) -> dict[str, int]:
    """Cases per verdict (every verdict listed, 0 where none), in the order of VERDICTS."""
    verdicts = [row[3] for row in catalogue_rows(path)]
    return {verdict: verdicts.count(verdict) for verdict in VERDICTS}


def catalogue_markdown(path: Path = CATALOGUE_FILE) -> str:
    counts = catalogue_counts(path)
    summary = f"{sum(counts.values())} cases: " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
    lines = [
        summary + ".",
        "",
        "| bad input | what refine says (part of it) | exit status | verdict |",
        "| --- | --- | ---: | --- |",
    ]
    for case, fragment, code, verdict in catalogue_rows(path):
        lines.append(f"| {_cell(case)} | `{fragment.replace('|', '')}` | {code} | {verdict} |")
    return "\n".join(lines)
