"""A DuckDB connection in which each data product is a view `<domain>.<product>`."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from pipelines.core.names import TableId
from pipelines.ports.table_store import TableStore


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connect_products(products: Iterable[tuple[TableId, TableStore]]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one schema per domain and a view per product.

    Each table is handed to DuckDB as Arrow (read through its TableStore), so Iceberg, Delta and
    memory tables are queried alike.
    """
    con = duckdb.connect(":memory:")
    for table, store in products:
        if not store.exists(table):
            continue
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(table.domain)}")
        arrow_name = f"__{table.domain}__{table.name}"
        con.register(arrow_name, store.read(table))
        con.execute(
            f"CREATE OR REPLACE VIEW {_quote(table.domain)}.{_quote(table.name)} AS SELECT * FROM {_quote(arrow_name)}"
        )
    return con
