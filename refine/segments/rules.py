"""Segment rules: readable predicates over customer attributes, parsed against a small grammar.

A rule is written as a pandas ``DataFrame.query`` expression over the customer table's original
column names, with backticks around names that hold spaces::

    `Tier Name` == "Gold" and region in ["west", "north"] and 30 <= age < 50

Text values are Python / JSON string literals (either quote kind, backslash escapes such as ``\\n`` and
``\\"``); a backtick inside a backticked column name is doubled (`` `Uses ``App`` ` `` is the column
``Uses `App` ``). Backticks and quotes inside a string literal are part of the value, never a column.

Rules read from disk or typed by a user are untrusted. They are parsed into a tree of column
names, literals, comparisons, ``and`` / ``or`` / ``not`` and ``in`` lists, and evaluated by this
module, never by ``eval`` or ``DataFrame.query``: anything else (calls, attributes, ``@`` locals,
subscripts, arithmetic) is refused with a one-line error.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from refine.errors import RefineError
from refine.io.ingest import flag_answers

_COMPARE = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_MAX_RULE_CHARS = 2000


@dataclass(frozen=True)
class Rule:
    """A parsed, checked rule; ``text`` is its canonical form."""

    text: str
    tree: ast.Expression
    columns: tuple[str, ...]

    def mask(self, customers: pd.DataFrame) -> pd.Series:
        missing = [c for c in self.columns if c not in customers.columns]
        if missing:
            raise RefineError(
                f"rule names column {missing[0]!r}, which the customer table does not have", where=f"rule {self.text!r}"
            )
        result = _evaluate(self.tree.body, customers, self._names)
        return pd.Series(np.asarray(result, dtype=bool), index=customers.index)

    @property
    def _names(self) -> dict[str, str]:
        return dict(_placeholders(self.columns))

    def literals(self) -> dict[str, list]:
        """Per column, the values the rule compares it with by ``==``, ``!=``, ``in`` or ``not in`` (None left out)."""
        out: dict[str, list] = {}
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Compare):
                continue
            operands = [node.left, *node.comparators]
            for a, op, b in zip(operands, node.ops, operands[1:]):
                if type(op) not in (ast.Eq, ast.NotEq, ast.In, ast.NotIn) or isinstance(a, ast.Name) == isinstance(
                    b, ast.Name
                ):
                    continue
                column, value = (a, b) if isinstance(a, ast.Name) else (b, a)
                values = _literal(value)
                for v in values if isinstance(values, list) else [values]:
                    if v is not None:
                        out.setdefault(self._names[cast(ast.Name, column).id], []).append(v)
        return out


def _placeholders(columns: Iterable[str]) -> list[tuple[str, str]]:
    return [(f"__col{i}__", name) for i, name in enumerate(columns)]


def parse_rule(text: str, *, allowed_columns: Iterable[str] | None = None) -> Rule:
    """Parse and check a rule; raise RefineError naming the first thing the grammar refuses."""
    if not isinstance(text, str) or not text.strip():
        raise RefineError("a rule must be a non-empty string", where="rule")
    if len(text) > _MAX_RULE_CHARS:
        raise RefineError(f"rule is longer than {_MAX_RULE_CHARS} characters", where="rule")
    columns: list[str] = []
    source = _swap_backticked(text, columns)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        raise RefineError("rule is not a valid expression", where=f"rule {text!r}") from None
    # bare names (no backticks) are columns too
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not re.fullmatch(r"__col\d+__", node.id):
            if node.id in ("True", "False", "None"):
                continue
            if node.id not in columns:
                columns.append(node.id)
            node.id = f"__col{columns.index(node.id)}__"
    _check(tree.body, text)
    if allowed_columns is not None:
        allowed = set(allowed_columns)
        for name in columns:
            if name not in allowed:
                raise RefineError(
                    f"column {name!r} may not be used in a rule (outcome, excluded or unknown)", where=f"rule {text!r}"
                )
    return Rule(text=text.strip(), tree=tree, columns=tuple(columns))


def _swap_backticked(text: str, columns: list[str]) -> str:
    """The rule with each backticked column name replaced by a placeholder (its index in `columns`).

    String literals are copied as they are (a backtick or quote inside a value stays part of the value);
    a doubled backtick inside a backticked name is one backtick of the name; '@' outside a string is refused.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in "\"'":
            end = _string_end(text, i)
            out.append(text[i:end])
            i = end
        elif char == "`":
            name, i = _backticked_name(text, i)
            if name not in columns:
                columns.append(name)
            out.append(f" __col{columns.index(name)}__ ")
        elif char == "@":
            raise RefineError("'@' local variables are not allowed in a rule", where=f"rule {text!r}")
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    """Where the string literal opening at `start` ends (after its closing quote; the text's end if unclosed)."""
    quote, i = text[start], start + 1
    while i < len(text) and text[i] != quote:
        i += 2 if text[i] == "\\" else 1
    return min(i + 1, len(text))


def _backticked_name(text: str, start: int) -> tuple[str, int]:
    """The column name in backticks opening at `start` (a doubled backtick is one backtick) and where it ends."""
    name: list[str] = []
    i = start + 1
    while i < len(text):
        if text[i] == "`":
            if text[i + 1 : i + 2] == "`":
                name.append("`")
                i += 2
                continue
            return "".join(name), i + 1
        name.append(text[i])
        i += 1
    raise RefineError("rule has a backtick with no closing backtick", where=f"rule {text!r}")


def _check(node: ast.AST, text: str) -> None:
    where = f"rule {text!r}"
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, text)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check(node.operand, text)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise RefineError(f"operator {type(op).__name__} is not allowed", where=where)
        for operand in [node.left, *node.comparators]:
            _check_operand(operand, text)
    elif isinstance(node, ast.Name):  # a boolean column on its own
        return
    else:
        raise RefineError(
            f"{_describe(node)} is not allowed in a rule (only columns, literals, comparisons, and/or/not, in-lists)",
            where=where,
        )


def _check_operand(node: ast.AST, text: str) -> None:
    if isinstance(node, ast.Name):
        return
    if _is_literal(node):
        return
    if isinstance(node, (ast.List, ast.Tuple)) and all(_is_literal(e) for e in node.elts):
        return
    raise RefineError(
        f"{_describe(node)} is not allowed in a rule (only columns, literals, comparisons, and/or/not, in-lists)",
        where=f"rule {text!r}",
    )


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (str, int, float, bool))):
        return True
    return (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, (int, float))
        and not isinstance(node.operand.value, bool)
    )


def _describe(node: ast.AST) -> str:
    return {
        ast.Call: "a function call",
        ast.Attribute: "attribute access",
        ast.Subscript: "subscripting",
        ast.BinOp: "arithmetic",
        ast.Lambda: "a lambda",
        ast.IfExp: "an if-expression",
    }.get(type(node), f"a {type(node).__name__} expression")


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp):  # a negative number: the grammar allows nothing else here
        return -cast(Any, node.operand).value
    return [_literal(e) for e in cast(ast.List, node).elts]


def _operand(node: ast.AST, frame: pd.DataFrame, names: dict[str, str]) -> Any:
    if isinstance(node, ast.Name):
        return frame[names[node.id]]
    return _literal(node)


def _compare(left: Any, op: type[ast.cmpop], right: Any) -> pd.Series:
    if op in (ast.In, ast.NotIn):
        values = right if isinstance(right, list) else [right]
        series = left if isinstance(left, pd.Series) else pd.Series([left])
        result = _isin(series, values)
        return ~result if op is ast.NotIn else result
    if op is ast.Eq:
        return _eq(left, right)
    if op is ast.NotEq:
        return ~_eq(left, right)
    try:
        result = {
            ast.Lt: lambda a, b: a < b,
            ast.LtE: lambda a, b: a <= b,
            ast.Gt: lambda a, b: a > b,
            ast.GtE: lambda a, b: a >= b,
        }[op](left, right)
    except TypeError:
        raise RefineError("rule compares a text column with a number (or the reverse)", where="rule") from None
    if isinstance(result, pd.Series):
        # a missing value (blank text, NaN, NaT) is never above or below anything: `last_order < "2024-02-01"`
        # must not select the customers with no order date, whose cell is "" (which sorts first)
        series = left if isinstance(left, pd.Series) else right
        return result.fillna(False).astype(bool) & ~_missing(series)
    return result


def _eq(left: Any, right: Any) -> pd.Series:
    if isinstance(left, pd.Series) and not isinstance(right, pd.Series):
        return _isin(left, [right])
    if isinstance(right, pd.Series) and not isinstance(left, pd.Series):
        return _isin(right, [left])
    return (left == right).fillna(False).astype(bool)


def _missing(series: pd.Series) -> pd.Series:
    """Missing cells: NaN / NaT / None, and blank text (how ingest keeps an empty cell of a text column)."""
    out = series.isna()
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        out = out | (series.astype(str).str.strip() == "")
    return out.fillna(True).astype(bool)


def _isin(series: pd.Series, values: list) -> pd.Series:
    """Membership; `None` in the list stands for a missing value (`col == None`: no value recorded)."""
    want_missing = any(v is None for v in values)
    values = [v for v in values if v is not None]
    flags = [v for v in values if isinstance(v, (bool, np.bool_))]
    answers = flag_answers(series) if flags else None
    if answers is not None:  # `Uses App == False` (written before yes/no columns were kept as held) on "yes"/"no"
        result = answers.isin(flags).fillna(False).astype(bool)
        rest = [v for v in values if not isinstance(v, (bool, np.bool_))]
        result = (result | _isin(series, rest)) if rest else result
        return (result | _missing(series)) if want_missing else result
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numeric = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        result = series.isin(numeric)
    else:
        result = series.isin(values)
    result = result.fillna(False).astype(bool)
    return (result | _missing(series)) if want_missing else result


def _evaluate(node: ast.AST, frame: pd.DataFrame, names: dict[str, str]) -> pd.Series:
    if isinstance(node, ast.BoolOp):
        parts = [_evaluate(v, frame, names) for v in node.values]
        out = parts[0]
        for part in parts[1:]:
            out = (out & part) if isinstance(node.op, ast.And) else (out | part)
        return out
    if isinstance(node, ast.UnaryOp):
        return ~_evaluate(node.operand, frame, names)
    if isinstance(node, ast.Name):
        return frame[names[node.id]].fillna(False).astype(bool)
    # chained comparison a < b <= c means a < b and b <= c
    out = None
    node = cast(ast.Compare, node)  # what the grammar leaves
    left = _operand(node.left, frame, names)
    for op, comparator in zip(node.ops, node.comparators):
        right = _operand(comparator, frame, names)
        part = _compare(left, type(op), right)
        out = part if out is None else (out & part)
        left = right
    if not isinstance(out, pd.Series):  # literal-only comparison: same answer for every customer
        out = pd.Series(bool(out), index=frame.index)
    return out


def apply_rule(customers: pd.DataFrame, rule: str, *, allowed_columns: Iterable[str] | None = None) -> pd.Series:
    """Boolean mask of the customers a rule selects; the rule is parsed and checked first.

    Example:
        >>> apply_rule(customers, '`Tier Name` == "Gold" and age >= 40').sum()
    """
    return parse_rule(rule, allowed_columns=allowed_columns).mask(customers)


# ---- building rules -------------------------------------------------------------------------


def quote_column(name: str) -> str:
    """A column name as a rule writes it: bare when it is an ASCII identifier, else in backticks.

    A backtick in the name is doubled; a non-ASCII name is backticked because Python reads a bare name
    NFKC-normalised (a ligature or full-width letter would name another column).
    """
    if name.isascii() and name.isidentifier() and name not in ("and", "or", "not", "in", "True", "False", "None"):
        return name
    return "`" + name.replace("`", "``") + "`"


def format_value(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isfinite(v) and v == round(v) and abs(v) < 1e15:
            return str(int(v))
        return repr(round(v, 6))
    return json.dumps(str(value), ensure_ascii=False)


def condition(column: str, op: str, value: Any) -> str:
    """One readable condition, e.g. ``region == "west"`` or ``age >= 40``."""
    if op in ("in", "not in"):
        return f"{quote_column(column)} {op} [{', '.join(format_value(v) for v in value)}]"
    return f"{quote_column(column)} {op} {format_value(value)}"


def conjunction(*conditions: str) -> str:
    return " and ".join(c for c in conditions if c)


# ---- SQL ------------------------------------------------------------------------------------------

_SQL_OPS = {ast.Eq: "=", ast.NotEq: "<>", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def rule_sql(rule: str | Rule) -> str:
    """The rule as a SQL ``WHERE`` condition on the table's own column names (a missing value is NULL).

    Identifiers are double-quoted (``"Uses App"``), text single-quoted with ``''`` escaping, lists become
    ``IN (...)``, ``== None`` becomes ``IS NULL``, and it selects the customers `apply_rule` selects: a
    ``!=`` / ``not in`` also keeps the customers with no value (as the rule does), and ``not`` reads a
    missing value as false before negating it.

    Example:
        >>> rule_sql('`Uses App` in ["Yes", "yes"] and spend >= 8000')
        '"Uses App" IN (\\'Yes\\', \\'yes\\') AND "spend" >= 8000'
    """
    parsed = rule if isinstance(rule, Rule) else parse_rule(rule)
    return _sql(parsed.tree.body, parsed._names, top=True)


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return format_value(value)
    return "'" + str(value).replace("'", "''") + "'"


def _sql(node: ast.AST, names: dict[str, str], top: bool = False) -> str:
    if isinstance(node, ast.BoolOp):
        joiner = " AND " if isinstance(node.op, ast.And) else " OR "
        text = joiner.join(_sql(v, names) for v in node.values)
        return text if top else f"({text})"
    if isinstance(node, ast.UnaryOp):  # `not`: the grammar allows no other operator here
        return f"NOT COALESCE({_sql(node.operand, names, top=True)}, FALSE)"
    if isinstance(node, ast.Name):  # a true/false column on its own
        return f"{_sql_name(names[node.id])} = TRUE"
    node = cast(ast.Compare, node)
    operands = [node.left, *node.comparators]
    parts = [_sql_compare(a, type(op), b, names) for a, op, b in zip(operands, node.ops, operands[1:])]
    text = " AND ".join(parts)
    return text if top or len(parts) == 1 else f"({text})"


def _sql_operand(node: ast.AST, names: dict[str, str]) -> str:
    if isinstance(node, ast.Name):
        return _sql_name(names[node.id])
    return _sql_literal(_literal(node))


def _sql_compare(left: ast.AST, op: type[ast.cmpop], right: ast.AST, names: dict[str, str]) -> str:
    if isinstance(left, ast.Name) != isinstance(right, ast.Name) and op in (ast.Eq, ast.NotEq, ast.In, ast.NotIn):
        column, value = (left, right) if isinstance(left, ast.Name) else (right, left)
        name = _sql_name(names[cast(ast.Name, column).id])
        values = _literal(value)
        values = values if isinstance(values, list) else [values]
        present = [v for v in values if v is not None]
        negate = op in (ast.NotEq, ast.NotIn)
        if len(present) == 1:
            listed = f"{name} {'<>' if negate else '='} {_sql_literal(present[0])}"
        else:
            listed = f"{name} {'NOT IN' if negate else 'IN'} ({', '.join(_sql_literal(v) for v in present)})"
        listed = listed if present else ""
        if not negate:
            if len(present) == len(values):
                return listed
            return f"{name} IS NULL" if not listed else f"({listed} OR {name} IS NULL)"
        # != / not in: the rule keeps a missing value unless the list names None
        if len(present) < len(values):
            return f"{name} IS NOT NULL" if not listed else f"({name} IS NOT NULL AND {listed})"
        return f"({name} IS NULL OR {listed})"
    sql_op = {ast.In: "=", ast.NotIn: "<>"}.get(op, _SQL_OPS.get(op, "="))
    return f"{_sql_operand(left, names)} {sql_op} {_sql_operand(right, names)}"
