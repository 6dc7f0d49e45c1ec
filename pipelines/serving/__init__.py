"""Serving data products: DuckDB connections and Polars LazyFrames per principal, the CLI and HTTP query.

The module-level functions load the settings each time (`Settings.load()`: the project found from the
working directory, `MESHLAKE_*`), unless given `settings`; build a `Serving` yourself to reuse one runtime.
"""

from __future__ import annotations

import duckdb
import polars as pl

from pipelines.adapters.duckdb.engine import ReadPath
from pipelines.ports.query_engine import (
    AsOf,
    QueryError,
    QueryPermissionError,
    QueryRefusedError,
    QueryResult,
    QueryTimeoutError,
)
from pipelines.serving.session import AsOfArg, ProductInfo, Serving
from pipelines.settings import Settings


def connect(
    principal: str | None = None,
    *,
    as_of: AsOfArg = None,
    read_path: ReadPath | None = None,
    lockdown: bool = False,
    settings: Settings | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection where each product `principal` may read is a view `<domain>.<product>`.

    Args:
        principal: a domain or reader name; grants come from the catalog. None: local access to every
            materialised product of the local domains.
        as_of: time travel: a datetime or ISO-8601 string for every product, a version (snapshot id or
            Delta version), or a mapping `{"orders.daily_revenue": 123}`.
        read_path: `auto` (default), `arrow` (pyarrow datasets), `parquet` (DuckDB's reader over the planned
            files) or `native` (DuckDB's `iceberg_scan` / `delta_scan`).
        lockdown: also forbid file access and lock DuckDB's configuration.
        settings: the project and its settings (default: `Settings.load()`).
    """
    return Serving.load(settings).connect(principal, as_of=as_of, read_path=read_path, lockdown=lockdown)


def scan(
    product: str, *, as_of: AsOf | str | None = None, principal: str | None = None, settings: Settings | None = None
) -> pl.LazyFrame:
    """A Polars LazyFrame over `<domain>.<product>`, at `as_of` (a version or a time) when given.

    Raises:
        QueryPermissionError: the principal may not read it, or it is not a data product.
    """
    return Serving.load(settings).scan(product, as_of=as_of, principal=principal)


def query(
    sql: str,
    principal: str | None = None,
    *,
    as_of: AsOfArg = None,
    max_rows: int | None = None,
    timeout_s: float | None = None,
    settings: Settings | None = None,
) -> QueryResult:
    """Run one read-only SELECT over the products `principal` may read; returns an Arrow table.

    Raises:
        QueryRefusedError: not a single read-only SELECT, or a relation the principal may not read.
        QueryTimeoutError: it ran longer than `timeout_s`.
        QueryError: DuckDB rejected or failed the query.
    """
    return Serving.load(settings).query(sql, principal, as_of=as_of, max_rows=max_rows, timeout_s=timeout_s)


def products(principal: str | None = None, *, settings: Settings | None = None) -> list[ProductInfo]:
    """The products `principal` may query, with version, update time, rows, owner and description."""
    return Serving.load(settings).products(principal)


__all__ = [
    "AsOf",
    "ProductInfo",
    "QueryError",
    "QueryPermissionError",
    "QueryRefusedError",
    "QueryResult",
    "QueryTimeoutError",
    "Serving",
    "Settings",
    "connect",
    "products",
    "query",
    "scan",
]
