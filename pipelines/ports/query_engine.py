"""The QueryEngine port: read-only SQL over the data products one principal may read."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from pipelines.core.commits import TableFormat

# Time travel: a version (Iceberg snapshot id, Delta version) or a point in time (the version current then).
AsOf = int | datetime


class QueryError(Exception):
    """The engine could not run the query (syntax, binding, runtime); the message is the engine's own."""


class QueryRefusedError(QueryError):
    """The query asks for something a reader may not do (write, read files, another domain's silver...)."""


class QueryPermissionError(QueryRefusedError):
    """The query names a relation the principal may not read (not granted, another domain's silver...)."""


class QueryTimeoutError(QueryError):
    """The query ran longer than its time limit and was interrupted."""


class ScanStorage(Protocol):
    """Where a scan's files live when they are not on this machine's disk (an object store), and how
    each reader reaches them (implemented by the storage adapters' `Location`)."""

    @property
    def uri(self) -> str:
        """The root the table's files are under (`s3://bucket/prefix`)."""
        ...

    @property
    def filesystem(self) -> Any:
        """A pyarrow filesystem reaching the files."""
        ...

    def fs_path(self, uri: str) -> str:
        """The path of `uri` in `filesystem`."""
        ...

    def polars_options(self) -> dict[str, str] | None:
        """Polars' `storage_options`."""
        ...

    def duckdb_secret(self, name: str) -> str | None:
        """A DuckDB `CREATE SECRET` statement named `name`, scoped to `uri`."""
        ...


FileRanges = Mapping[str, tuple[Sequence[Any], Sequence[Any]]]
"""Column → (least values, greatest values), one per data file in `ProductScan.files` order: true bounds of
the file's non-null values (None where the table metadata bounds nothing), for leaving out files a query's
filters cannot match."""


@dataclass(frozen=True)
class ProductScan:
    """One version of one data product, resolved to what a query engine needs to read it.

    Attributes:
        product: `<domain>.<product>`.
        format: the table format the product lives in.
        version: the Iceberg snapshot id or Delta version read; None for a table without any commit.
        schema: the columns served (hidden partition columns are not part of it).
        location: the Iceberg metadata file or the Delta table root (URI), for engines reading natively.
        root: the directory holding everything the table's version needs (data and metadata), or None
            when the table is not on the local file system.
        files: the data files of that version (local paths); empty with `exact=False`.
        exact: True when `files` hold exactly the rows of `schema` (no delete files, no partition values
            outside the files), so a plain Parquet reader over them gives the right answer.
        arrow: builds the Arrow handoff: a `pyarrow.dataset.Dataset` (projection and filter pushdown),
            or a `pyarrow.Table` for small or in-memory tables.
        row_count: rows in that version when the table metadata says so without reading data.
        row_groups: Parquet row groups in `files` (the units a reader can split the scan into), when known.
        storage: how to reach `files` and `location` when they are on an object store (then `files` are
            URIs such as `s3://...`); None for local files.
        ranges: builds the `FileRanges` of `files` from the table metadata (file statistics), when it has them.
    """

    product: str
    format: TableFormat
    version: int | None
    schema: pa.Schema
    location: str
    arrow: Callable[[], object]
    root: str | None = None
    files: tuple[str, ...] = ()
    exact: bool = False
    row_count: int | None = None
    row_groups: int | None = None
    storage: ScanStorage | None = None
    ranges: Callable[[], FileRanges] | None = None


@dataclass(frozen=True)
class QueryResult:
    """What a query returned: at most the row limit, and whether more rows were left out."""

    table: pa.Table
    truncated: bool = False
    cached: bool = False
    """Whether the answer came from the engine's result cache (same SELECT on the same table versions)."""


@runtime_checkable
class QueryEngine(Protocol):
    """SQL over data products: each product is a relation `<domain>.<product>`; nothing else is readable."""

    def products(self) -> Sequence[str]:
        """The `<domain>.<product>` names this engine serves."""
        ...

    def execute(self, sql: str, *, max_rows: int | None = None, timeout_s: float | None = None) -> QueryResult:
        """Run one read-only query.

        Raises:
            QueryRefusedError: the query is not a single read-only SELECT over served products.
            QueryTimeoutError: it ran longer than `timeout_s`.
            QueryError: the engine rejected or failed the query (its message).
        """
        ...

    def close(self) -> None:
        """Release the engine's resources."""
        ...
