"""Selective queries read fewer files: a SELECT's simple filters on a product checked against each file's ranges.

From DuckDB's syntax tree of the query (`json_serialize_sql`), the filters that bound every row the query
reads from the product are taken: the product is named once in the query, alone in its FROM, and its
WHERE is a conjunction whose terms compare one of its columns with constants (`=`, `<`, `<=`, `>`, `>=`,
`BETWEEN`, `IN`). The constants are evaluated by DuckDB itself, and a file is left out only when some
term cannot hold for any value between the file's bounds. Anything else (an OR, a function of a column,
a join, a constant of another kind than the column, floating point) leaves the files as they are: less
pruning, never another answer, since the query still applies all its filters to the rows it reads.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.adapters.duckdb.guard import walk
from pipelines.ports.query_engine import FileRanges

_COMPARISONS = {
    "COMPARE_EQUAL": "=",
    "COMPARE_LESSTHAN": "<",
    "COMPARE_LESSTHANOREQUALTO": "<=",
    "COMPARE_GREATERTHAN": ">",
    "COMPARE_GREATERTHANOREQUALTO": ">=",
}
# `3 > x` is `x < 3`.
_MIRRORED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True)
class ColumnFilter:
    """`column <op> constant` (op `=`, `<`, `<=`, `>`, `>=`), or `column IN (constants)` (op `in`)."""

    column: str
    op: str
    constants: tuple[dict[str, Any], ...]
    """The constants' syntax trees, evaluated by DuckDB."""


def _is_constant(node: Any) -> bool:
    """A literal, or a cast of one (`DATE '2026-03-01'`): nothing that reads a column or calls a function."""
    if not isinstance(node, dict):
        return False
    if node.get("class") == "CONSTANT":
        return True
    return node.get("class") == "CAST" and not node.get("try_cast") and _is_constant(node.get("child"))


def _conjuncts(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if node.get("type") == "CONJUNCTION_AND":
        for child in node.get("children", []):
            yield from _conjuncts(child)
    else:
        yield node


class _Columns:
    """Resolves a column reference to a column of the product read under `alias`."""

    def __init__(self, alias: str, columns: Sequence[str]) -> None:
        self._alias = alias.lower()
        self._columns = {c.lower(): c for c in columns}

    def __call__(self, node: Any) -> str | None:
        if not isinstance(node, dict) or node.get("class") != "COLUMN_REF":
            return None
        names = [str(n) for n in node.get("column_names", [])]
        if len(names) == 2 and names[0].lower() == self._alias:
            names = names[1:]
        return self._columns.get(names[0].lower()) if len(names) == 1 else None


def _term(node: dict[str, Any], column: _Columns) -> list[ColumnFilter]:
    """The filters one conjunct of the WHERE says (none when it is not a simple comparison)."""
    kind = node.get("type", "")
    if kind in _COMPARISONS:
        left, right, op = node.get("left"), node.get("right"), _COMPARISONS[kind]
        if (name := column(left)) and _is_constant(right):
            return [ColumnFilter(name, op, (right,))]  # type: ignore[arg-type]
        if (name := column(right)) and _is_constant(left):
            return [ColumnFilter(name, _MIRRORED[op], (left,))]  # type: ignore[arg-type]
        return []
    if kind == "COMPARE_BETWEEN" and (name := column(node.get("input"))):
        lower, upper = node.get("lower"), node.get("upper")
        found = [ColumnFilter(name, ">=", (lower,))] if _is_constant(lower) else []  # type: ignore[arg-type]
        return found + ([ColumnFilter(name, "<=", (upper,))] if _is_constant(upper) else [])  # type: ignore[arg-type]
    if kind == "COMPARE_IN":
        first, *rest = node.get("children", [None])
        if (name := column(first)) and rest and all(_is_constant(c) for c in rest):
            return [ColumnFilter(name, "in", tuple(rest))]
    return []


def column_filters(tree: dict[str, Any], relation: str, columns: Sequence[str]) -> list[ColumnFilter]:
    """The filters every row the query reads from `relation` (`schema.name`) passes; none when unsure.

    Args:
        tree: the SELECT's syntax tree from `json_serialize_sql`.
        relation: the product's view, `<domain>.<product>`.
        columns: the product's columns.
    """
    schema, _, name = relation.lower().partition(".")
    nodes = list(walk(tree))
    named = [
        n
        for n in nodes
        if n.get("type") == "BASE_TABLE"
        and str(n.get("schema_name", "")).lower() == schema
        and str(n.get("table_name", "")).lower() == name
    ]
    if len(named) != 1:
        return []
    select = next((n for n in nodes if n.get("type") == "SELECT_NODE" and n.get("from_table") is named[0]), None)
    if select is None or not isinstance(select.get("where_clause"), dict):
        return []
    column = _Columns(str(named[0].get("alias") or named[0]["table_name"]), columns)
    return [f for term in _conjuncts(select["where_clause"]) for f in _term(term, column)]


@functools.cache
def _select_template() -> str:
    with duckdb.connect() as con:
        row = con.execute("SELECT json_serialize_sql('SELECT 1')").fetchone()
    assert row is not None
    return str(row[0])


def _without_positions(node: Any) -> Any:
    """A syntax tree without where its parts were in the text (two queries may hold the same constants)."""
    if isinstance(node, dict):
        return {k: _without_positions(v) for k, v in node.items() if k != "query_location"}
    if isinstance(node, list):
        return [_without_positions(v) for v in node]
    return node


def constant_values(
    con: duckdb.DuckDBPyConnection, filters: Sequence[ColumnFilter], known: dict[str, tuple[Any, ...]] | None = None
) -> list[tuple[Any, ...]] | None:
    """Each filter's constants as Python values, evaluated by DuckDB on `con` (its time zone); None on failure.

    Args:
        known: values already evaluated on `con`, by the constants' syntax trees; added to.
    """
    constants = _without_positions([c for f in filters for c in f.constants])
    if not constants:
        return []
    key = json.dumps(constants, sort_keys=True)
    row = known.get(key) if known is not None else None
    if row is None:
        tree = json.loads(_select_template())
        tree["statements"][0]["node"]["select_list"] = constants
        try:
            sql = con.execute("SELECT json_deserialize_sql(?::JSON)", [json.dumps(tree)]).fetchone()
            row = con.execute(str(sql[0])).fetchone() if sql else None
        except duckdb.Error:
            return None
        if row is None:
            return None
        if known is not None:
            known[key] = tuple(row)
    values: list[tuple[Any, ...]] = []
    at = 0
    for f in filters:
        values.append(tuple(row[at : at + len(f.constants)]))
        at += len(f.constants)
    return values


def _comparable(type_: pa.DataType, value: Any) -> bool:
    """Whether Python compares `value` with the column's values as DuckDB does (exactly, same kind)."""
    if isinstance(value, bool) or value is None:
        return False
    if pa.types.is_integer(type_) or pa.types.is_decimal(type_):
        return isinstance(value, int | Decimal)
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return isinstance(value, str)
    if pa.types.is_date32(type_):
        return type(value) is date
    if pa.types.is_timestamp(type_) and isinstance(value, datetime):
        return (type_.tz is None) == (value.tzinfo is None)
    return False


def _kept(op: str, values: tuple[Any, ...], lows: Sequence[Any], highs: Sequence[Any]) -> list[bool]:
    """Per file, whether `x <op> value` may hold for some x with low <= x <= high (None: unbounded)."""
    bounds = zip(lows, highs, strict=True)
    if op in ("=", "in") and len(values) == 1:
        value = values[0]
        return [(lo is None or lo <= value) and (hi is None or value <= hi) for lo, hi in bounds]
    if op in ("=", "in"):
        return [any((lo is None or lo <= v) and (hi is None or v <= hi) for v in values) for lo, hi in bounds]
    value = values[0]
    if op == "<":
        return [lo is None or lo < value for lo in lows]
    if op == "<=":
        return [lo is None or lo <= value for lo in lows]
    if op == ">":
        return [hi is None or hi > value for hi in highs]
    return [hi is None or hi >= value for hi in highs]  # >=


def matching_files(
    con: duckdb.DuckDBPyConnection,
    tree: dict[str, Any],
    relation: str,
    schema: pa.Schema,
    files: Sequence[str],
    ranges: Callable[[], FileRanges],
    known: dict[str, tuple[Any, ...]] | None = None,
) -> list[str] | None:
    """The files whose ranges the query's filters on `relation` may match; None when no file is left out.

    Args:
        con: the connection the query runs in (constants are evaluated there).
        tree: the SELECT's syntax tree from `json_serialize_sql`.
        relation: the product's view, `<domain>.<product>`.
        schema: the product's columns.
        files: the product's data files.
        ranges: builds, per column, each file's bounds (see `FileRanges`); called only for a query with filters.
        known: constants already evaluated on `con` (see `constant_values`).
    """
    filters = column_filters(tree, relation, schema.names)
    bounds = ranges() if filters else {}
    filters = [f for f in filters if f.column in bounds]
    values = constant_values(con, filters, known) if filters else None
    if not values:
        return None
    usable = [
        (f, vals)
        for f, vals in zip(filters, values, strict=True)
        if all(_comparable(schema.field(f.column).type, v) for v in vals)
    ]
    if not usable:
        return None
    keep: list[bool] | None = None
    for f, vals in usable:
        lows, highs = bounds[f.column]
        this = _kept(f.op, vals, lows, highs)
        keep = this if keep is None else [k and m for k, m in zip(keep, this, strict=True)]
    assert keep is not None and len(keep) == len(files)
    kept = list(itertools.compress(files, keep))
    return kept if len(kept) < len(files) else None
