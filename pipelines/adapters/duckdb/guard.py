"""Read-only SQL check with DuckDB's own parser: one SELECT, no file-reading functions, named relations."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb

from pipelines.ports.query_engine import QueryError, QueryRefusedError

# Table functions a reader may call: they compute rows, they read nothing.
SAFE_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
# Schemas DuckDB describes itself in; reading them shows only what the connection holds.
SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog"})
# The clock's SQL keywords: they parse as column names and DuckDB marks some of them consistent.
CLOCK_KEYWORDS = frozenset({"localtime", "localtimestamp", "current_localtime", "current_localtimestamp"})


@dataclass(frozen=True)
class SelectShape:
    """What a SELECT reads: relations `(catalog, schema, name)` and table functions, CTEs left out."""

    relations: frozenset[tuple[str, str, str]]
    table_functions: frozenset[str]
    repeatable: bool = False
    """Whether the same SELECT on the same table versions gives the same answer: no clock, random or
    session function, no sample, and no system schema (which lists what the connection holds)."""
    tree: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The SELECT's syntax tree (`json_serialize_sql`)."""

    def qualified(self) -> list[str]:
        """The relations named with a schema, as `schema.name` (catalog left out), sorted."""
        return sorted({f"{schema}.{name}" for _, schema, name in self.relations if schema})


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in a DuckDB syntax tree (`json_serialize_sql`), depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


@functools.cache
def _changing_names() -> frozenset[str]:
    """Functions whose value changes between runs of one query: DuckDB's volatile and per-query ones."""
    with duckdb.connect() as con:
        rows = con.sql(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
            "WHERE stability IN ('VOLATILE', 'CONSISTENT_WITHIN_QUERY')"
        ).fetchall()
    return frozenset(row[0] for row in rows) | CLOCK_KEYWORDS


def _changes(node: dict[str, Any]) -> bool:
    """Whether `node` makes a query's answer change from run to run (a clock, random, sample...)."""
    if node.get("sample"):
        return True
    if node.get("class") == "FUNCTION":
        name = str(node.get("function_name", "")).lower()
    elif node.get("class") == "COLUMN_REF" and len(node.get("column_names", ())) == 1:
        name = str(node["column_names"][0]).lower()  # `current_date` and friends parse as column names
    else:
        return False
    return name.startswith("current_") or name in _changing_names()


def _shape(tree: dict[str, Any]) -> SelectShape:
    nodes = list(walk(tree))
    ctes = {entry["key"] for n in nodes if isinstance(n.get("cte_map"), dict) for entry in n["cte_map"]["map"]}
    relations: set[tuple[str, str, str]] = set()
    functions: set[str] = set()
    changing = False
    for node in nodes:
        changing = changing or _changes(node)
        if node.get("type") == "BASE_TABLE" and "table_name" in node:
            catalog, schema, name = node.get("catalog_name", ""), node.get("schema_name", ""), node["table_name"]
            if catalog or schema or name not in ctes:
                relations.add((catalog, schema, name))
        elif node.get("type") == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            functions.add(str(node["function"].get("function_name", "")).lower())
    system = any(schema in SYSTEM_SCHEMAS for _, schema, _ in relations)
    return SelectShape(frozenset(relations), frozenset(functions), not (changing or system), tree)


def inspect_select(con: duckdb.DuckDBPyConnection, sql: str) -> SelectShape:
    """Check that `sql` is exactly one read-only SELECT (or WITH ... SELECT) and say what it reads.

    The statement is split and typed by DuckDB's parser (`extract_statements`), and the SELECT's syntax
    tree (`json_serialize_sql`) is searched for table functions and relation names, so a keyword hidden
    in a string or a comment fools nothing.

    Raises:
        QueryError: the text does not parse (DuckDB's message).
        QueryRefusedError: more than one statement, a statement other than SELECT, a file read
            (`'data.csv'` as a table, `read_parquet`, `glob`...) or another catalog (ATTACHed database).
    """
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None
    if len(statements) != 1:
        raise QueryRefusedError(f"send exactly one SELECT statement (got {len(statements)} statements)")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise QueryRefusedError(f"only SELECT (or WITH ... SELECT) is allowed, not {kind.name}")
    row = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()
    tree = json.loads(row[0]) if row else {"error": True, "error_message": "cannot parse"}
    if tree.get("error"):
        raise QueryError(f"Parser Error: {tree.get('error_message', 'cannot parse the query')}")
    shape = _shape(tree)
    if unsafe := sorted(shape.table_functions - SAFE_TABLE_FUNCTIONS):
        raise QueryRefusedError(
            f"table function(s) {', '.join(unsafe)} not allowed: query the data products "
            f"(<domain>.<product>) instead of reading files or database internals"
        )
    for catalog, schema, name in sorted(shape.relations):
        if catalog and catalog not in ("memory", "temp"):
            raise QueryRefusedError(f"{catalog}.{schema}.{name}: other databases are not readable")
        if not schema and any(ch in name for ch in "./\\:*?"):
            raise QueryRefusedError(f"reading files ({name!r}) is not allowed: query the data products instead")
    return shape
