"""DuckDbQueryEngine: an in-memory DuckDB in which each data product is a view `<domain>.<product>`."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import duckdb

from pipelines.adapters.duckdb.extensions import load_extension, verified_once_config
from pipelines.adapters.duckdb.guard import SYSTEM_SCHEMAS, SelectShape, inspect_select
from pipelines.adapters.duckdb.pruning import matching_files
from pipelines.adapters.duckdb.result_cache import ResultCache
from pipelines.core.commits import TableFormat
from pipelines.ports.query_engine import (
    ProductScan,
    QueryError,
    QueryPermissionError,
    QueryResult,
    QueryTimeoutError,
    ScanStorage,
)

ReadPath = Literal["auto", "arrow", "parquet", "native"]
READ_PATHS: tuple[ReadPath, ...] = ("auto", "arrow", "parquet", "native")


def quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def native_source(scan: ProductScan) -> str | None:
    """The table function reading `scan` natively (`iceberg_scan` / `delta_scan`), None if there is none."""
    if scan.version is None:
        return None
    if scan.format is TableFormat.ICEBERG:
        return f"iceberg_scan({literal(scan.location)}, snapshot_from_id => {scan.version})"
    if scan.format is TableFormat.DELTA:
        return f"delta_scan({literal(scan.location)}, version => {scan.version})"
    return None


def parquet_source(scan: ProductScan) -> str | None:
    """`read_parquet` over the planned files, when they alone hold the rows; None otherwise."""
    if not (scan.exact and scan.files):
        return None
    return f"read_parquet([{', '.join(literal(f) for f in scan.files)}], union_by_name = true)"


_SOURCES: dict[ReadPath, Callable[[ProductScan], str | None]] = {"native": native_source, "parquet": parquet_source}


def _source_sql(path: ReadPath, scan: ProductScan) -> str | None:
    """The SQL source reading `scan` by `path`, None when that path cannot (or is the Arrow handoff)."""
    source = _SOURCES.get(path)
    return source(scan) if source else None


def pick_read_path(scan: ProductScan, threads: int) -> ReadPath:
    """`auto`: DuckDB's Parquet reader when the files split into a row group per thread at least, else the
    Arrow handoff, whose decoding runs in parallel inside a row group (the writers' default row group
    holds 1M rows, so most gold tables are a single one)."""
    if scan.exact and scan.files and (scan.row_groups is None or scan.row_groups >= threads):
        return "parquet"
    return "arrow"


class DuckDbQueryEngine:
    """SQL over data products in DuckDB; products are planned only when a query names them.

    Each product becomes a view `<domain>.<product>` (one DuckDB schema per domain) over a read path:

    - `arrow`: the product's `pyarrow.dataset` is handed to DuckDB, which pushes the projection and
      filters into it; DuckDB opens no file itself.
    - `parquet`: DuckDB's `read_parquet` over the data files the table version planned (Iceberg
      `plan_files`, the Delta log), when they alone hold the rows; file access is limited to them.
    - `native`: DuckDB reads the table with `iceberg_scan` / `delta_scan` (extensions loaded offline from
      their wheels); file access is limited to the directories of the planned tables.
    - `auto` (default): `parquet` when the files have at least a row group per thread, else `arrow`
      (see `pick_read_path`).

    Whatever the path, `lock()` turns external access off and locks the configuration. Extensions come from
    their wheels, their signatures checked by DuckDB once per process (`verified_once_config`).

    Args:
        products: `<domain>.<product>` → a function planning its scan (called at most once).
        read_path: `auto`, `arrow`, `parquet` or `native`.
        explain: says why a `<schema>.<name>` that is not served cannot be read (another domain's
            silver, a product not granted...), or None when it names nothing known.
        threads: DuckDB worker threads (default: one per core).
        config: more DuckDB settings, e.g. `{"memory_limit": "1GB", "temp_directory": ""}` (no spilling).
    """

    def __init__(
        self,
        products: Mapping[str, Callable[[], ProductScan]],
        *,
        read_path: ReadPath = "auto",
        explain: Callable[[str], str | None] | None = None,
        threads: int | None = None,
        config: Mapping[str, str | bool | int] | None = None,
    ) -> None:
        if read_path not in READ_PATHS:
            raise ValueError(f"read_path must be one of {', '.join(READ_PATHS)}, not {read_path!r}")
        self._planners = dict(products)
        self._read_path = read_path
        self._explain = explain or (lambda _name: None)
        self._scans: dict[str, ProductScan] = {}
        self._paths: dict[str, ReadPath] = {}
        self._narrowed: dict[str, tuple[str, ...]] = {}
        self._best: dict[tuple[str, int | None, int], ReadPath] = {}
        self._constants: dict[str, tuple[Any, ...]] = {}  # a query's constants evaluated on this connection
        self._locked = False
        settings: dict[str, str | bool | int | float | list[str]] = {**(config or {}), **verified_once_config()}
        if threads:
            settings["threads"] = threads
        self._con = duckdb.connect(":memory:", config=settings)
        self._threads = threads or int(self._con.sql("SELECT current_setting('threads')").fetchall()[0][0])
        self._extensions: set[str] = set()
        self._secrets: set[str] = set()
        self._last_shape: tuple[str, SelectShape] | None = None
        self._results = ResultCache()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection holding the views."""
        return self._con

    @property
    def read_path(self) -> ReadPath:
        return self._read_path

    def products(self) -> Sequence[str]:
        return sorted(self._planners)

    def scans(self) -> Mapping[str, ProductScan]:
        """The products planned so far, by name."""
        return dict(self._scans)

    def read_paths(self) -> Mapping[str, ReadPath]:
        """How each planned product is read: `arrow`, `parquet` or `native`."""
        return dict(self._paths)

    def attach(self, names: Iterable[str] | None = None) -> None:
        """Plan the named products (all when None) and create their views.

        Raises:
            KeyError: a name is not one of `products()`.
        """
        for name in sorted(self._planners if names is None else set(names)):
            if name in self._scans:
                continue
            scan = self._planners[name]()
            self._create_view(name, scan)
            self._scans[name] = scan

    def _attach_for(self, names: Iterable[str], shape: SelectShape) -> None:
        """Plan the named products and point each view read from Parquet files at those `shape`'s filters
        may match (`pruning.matching_files`); other views read every file."""
        for name in sorted(set(names)):
            scan = self._scans.get(name) or self._planners[name]()
            path = self._paths.get(name) or ("arrow" if self._locked else self._best_path(scan))
            files = scan.files
            if path == "parquet" and scan.ranges is not None:
                known = self._constants
                kept = matching_files(self._con, shape.tree, name, scan.schema, scan.files, scan.ranges, known)
                files = files if kept is None else tuple(kept) or files[:1]  # the query's filters still apply
            if name not in self._scans:
                self._create_view(name, scan, files)
                self._scans[name] = scan
            elif path == "parquet" and files != self._narrowed.get(name):
                self._create_view(name, scan, files)

    def _source(self, name: str, scan: ProductScan) -> tuple[ReadPath, str]:
        """The read path and the SQL source of one planned product."""
        wanted = pick_read_path(scan, self._threads) if self._read_path == "auto" else self._read_path
        source = _source_sql(wanted, scan)
        if source is None or self._locked:  # the Arrow handoff reads any planned table, needs no file access
            domain, _, product = name.partition(".")
            registered = f"__{domain}__{product}"
            self._con.register(registered, scan.arrow())
            return "arrow", quote(registered)
        if wanted == "native" and scan.format.value not in self._extensions:
            load_extension(self._con, scan.format.value)  # iceberg or delta, from its wheel
            self._extensions.add(scan.format.value)
        if scan.storage is not None:
            self._reach(scan.storage)
        return wanted, source

    def _reach(self, storage: ScanStorage) -> None:
        """Let DuckDB read an object store: httpfs (from its wheel) and a secret scoped to the storage's root."""
        if "httpfs" not in self._extensions:
            load_extension(self._con, "httpfs")
            self._extensions.add("httpfs")
        if storage.uri in self._secrets:
            return
        statement = storage.duckdb_secret(f"meshlake_storage_{len(self._secrets)}")
        if statement:
            self._con.execute(statement)
        self._secrets.add(storage.uri)

    def _best_path(self, scan: ProductScan) -> ReadPath:
        """The read path an unlocked engine gives `scan` (kept: a kept engine asks for every query)."""
        key = (scan.location, scan.version, len(scan.files))
        if (known := self._best.get(key)) is not None:
            return known
        wanted = pick_read_path(scan, self._threads) if self._read_path == "auto" else self._read_path
        best: ReadPath = wanted if _source_sql(wanted, scan) is not None else "arrow"
        self._best[key] = best
        return best

    def _create_view(self, name: str, scan: ProductScan, files: tuple[str, ...] | None = None) -> None:
        """The view of `name` over `scan`, over only `files` of it when it is read from its Parquet files."""
        domain, _, product = name.partition(".")
        shown = scan if files is None else replace(scan, files=files)
        path: ReadPath
        if self._paths.get(name) == "parquet":  # re-pointed, after the lock too (the files are allowed)
            path, source = "parquet", parquet_source(shown) or ""
        else:
            path, source = self._source(name, shown)
        self._narrowed[name] = shown.files
        columns = ", ".join(quote(column) for column in scan.schema.names) or "*"
        self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(domain)}")
        self._con.execute(f"CREATE OR REPLACE VIEW {quote(domain)}.{quote(product)} AS SELECT {columns} FROM {source}")
        self._paths[name] = path

    def lock(self) -> None:
        """Forbid file access (except to what the views read) and lock the configuration for good."""
        if self._locked:
            return
        # A local table read from its files: its folder (a query may re-point the view at others of its files,
        # and a list of a year of day files takes DuckDB ~0.1 s to set).
        parquet = [s for n, s in self._scans.items() if self._paths[n] == "parquet"]
        files = sorted({f for s in parquet if not s.root for f in s.files})
        native = [s for n, s in self._scans.items() if self._paths[n] == "native"]
        roots = sorted({s.root.rstrip("/") + "/" for s in [*native, *parquet] if s.root})
        roots += sorted({s.storage.uri.rstrip("/") + "/" for s in native if s.storage})
        if files:
            self._con.execute(f"SET allowed_paths = [{', '.join(literal(f) for f in files)}]")
        if roots:
            self._con.execute(f"SET allowed_directories = [{', '.join(literal(r) for r in roots)}]")
        self._con.execute("SET python_enable_replacements = false")  # no Python variable is a table
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET lock_configuration = true")
        self._locked = True

    def serves_as_planned(self, sql: str, current: Callable[[str], ProductScan]) -> bool:
        """Whether this engine answers `sql` as a new one would: each product `sql` names is either held
        at the plan `current(name)` gives now, or not attached yet while the engine can still read it
        its best way (before `lock`, after which only the Arrow handoff is left). A server keeps an
        engine between queries and asks this first.

        A query that does not pass the checks counts as served: `execute` says what is wrong with it.
        """
        try:
            named = [n for n in self._inspect(sql).qualified() if n in self._planners]
        except QueryError:
            return True
        for name in named:
            held = self._scans.get(name)
            if held is None:
                if self._locked:
                    return False
                continue
            if self._paths[name] != self._best_path(held):  # attached after the lock, handed over by Arrow
                return False
            try:
                now = current(name)
            except (ValueError, LookupError):
                return False
            if (now.location, now.version, now.files) != (held.location, held.version, held.files):
                return False
        return True

    def _inspect(self, sql: str) -> SelectShape:
        """`inspect_select`, remembering the last answer (a kept engine is asked first, then runs it)."""
        if self._last_shape is not None and self._last_shape[0] == sql:
            return self._last_shape[1]
        shape = inspect_select(self._con, sql)
        self._last_shape = (sql, shape)
        return shape

    def _check_relations(self, relations: Iterable[str]) -> list[str]:
        """The served products among `relations`; refuses a denied or unknown `<schema>.<name>`."""
        wanted: list[str] = []
        for name in relations:
            schema = name.partition(".")[0]
            if name in self._planners:
                wanted.append(name)
            elif reason := self._explain(name):
                raise QueryPermissionError(reason)
            elif schema not in SYSTEM_SCHEMAS:
                served = ", ".join(self.products()) or "none"
                raise QueryPermissionError(f"{name} is not a data product you may read (readable: {served})")
        return wanted

    def execute(self, sql: str, *, max_rows: int | None = None, timeout_s: float | None = None) -> QueryResult:
        """Run one read-only SELECT over the products and return at most `max_rows` rows.

        Raises:
            QueryRefusedError: not a single SELECT, a file or function read, or a relation not served.
            QueryTimeoutError: it ran longer than `timeout_s` (the query is interrupted).
            QueryError: DuckDB rejected or failed the query; the message is DuckDB's.
        """
        shape = self._inspect(sql)
        wanted = self._check_relations(shape.qualified())
        if shape.repeatable and (kept := self._results.get(sql, max_rows)) is not None:
            return kept
        if any(schema in SYSTEM_SCHEMAS for _, schema, _ in shape.relations):
            for name in self._planners:  # the catalog views list every product that has a table
                with contextlib.suppress(ValueError, LookupError):
                    self.attach([name])
        try:
            self._attach_for(wanted, shape)
        except (ValueError, LookupError) as exc:
            raise QueryError(str(exc).strip("'\"")) from exc
        self.lock()
        timer = threading.Timer(timeout_s, self._con.interrupt) if timeout_s else None
        try:
            if timer:
                timer.start()
            if max_rows is None:  # bound and planned once (a relation binds when made, and again when run)
                table = self._con.execute(sql).to_arrow_table()
            else:
                table = self._con.sql(sql).limit(max_rows + 1).to_arrow_table()
        except duckdb.InterruptException:
            raise QueryTimeoutError(f"the query ran longer than {timeout_s:g} s and was stopped") from None
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from None
        finally:
            if timer:
                timer.cancel()
        truncated = max_rows is not None and table.num_rows > max_rows
        result = QueryResult(table.slice(0, max_rows) if truncated else table, truncated=truncated)
        if shape.repeatable:
            self._results.put(sql, max_rows, result)
        return result

    def close(self) -> None:
        self._con.close()
