"""Serving: data products of the local domains as DuckDB views and Polars LazyFrames, per principal."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

import duckdb
import polars as pl

from pipelines.adapters.duckdb.engine import DuckDbQueryEngine, ReadPath
from pipelines.adapters.polars.scan import lazy_frame
from pipelines.bootstrap import Runtime
from pipelines.core.names import TableId
from pipelines.ports.query_engine import AsOf, ProductScan, QueryPermissionError, QueryResult
from pipelines.ports.table_store import TableNotFoundError
from pipelines.serving.pool import EnginePool
from pipelines.serving.products import (
    Access,
    ServedProduct,
    access_for,
    all_products,
    event_logs,
    explain_unreadable,
)
from pipelines.serving.scans import current_state, open_table, parse_as_of, resolve_version
from pipelines.settings import Settings

# Picked by measurement (benchmarks/query_ratio.py): DuckDB's Parquet reader over the planned files when
# they split into enough row groups, the Arrow handoff when they do not; the native scans read as fast
# once the extensions are loaded, which costs ~0.25 s CPU at a process's first load (DuckDB checks their
# signatures once per process, `verified_once_config`), ~2 ms at every later one.
DEFAULT_READ_PATH: ReadPath = "auto"

AsOfArg = AsOf | str | Mapping[str, AsOf | str] | None
_MAX_PLANS = 512
# Plans by table state (Iceberg metadata file, Delta root at a log version), shared by every `Serving` of the
# process: `meshlake.query` and `connect` build a new one per call, and a state is planned once.
_SHARED_PLANS: dict[tuple[str, str | None, int | None], ProductScan] = {}
_PLANS_LOCK = threading.Lock()
# Idle engines `query` keeps (each an in-memory DuckDB, up to its memory limit of cached file data).
_IDLE_ENGINES = 4


@dataclass(frozen=True)
class ProductInfo:
    """A readable product as `meshlake products` lists it."""

    name: str
    format: str
    version: int | None
    updated_ms: int | None
    rows: int | None
    owner: str
    description: str


def _engine_key(access: Access, as_of: AsOfArg, config: Mapping[str, str | bool | int] | None) -> Hashable:
    """What makes two engines alike: who reads, the time travel, the DuckDB settings."""
    travel = tuple(sorted(as_of.items())) if isinstance(as_of, Mapping) else as_of
    return access, travel, tuple(sorted((config or {}).items()))


def _as_of_for(as_of: AsOfArg, product: str) -> AsOf | None:
    """The time travel of one product: its entry in a mapping, or the one `as_of` for every product."""
    if isinstance(as_of, Mapping):
        value = as_of.get(product)
        return parse_as_of(value) if isinstance(value, str) else value
    return parse_as_of(as_of) if isinstance(as_of, str) else as_of


class Serving:
    """The data products of a runtime, served to one principal at a time.

    Args:
        runtime: domains, stores and the catalog (for grants).
        read_path: how DuckDB reads the tables: `auto` (default), `arrow`, `parquet` or `native`
            (`iceberg_scan`/`delta_scan`); see `DuckDbQueryEngine`.
    """

    def __init__(self, runtime: Runtime, *, read_path: ReadPath = DEFAULT_READ_PATH) -> None:
        self.runtime = runtime
        self.read_path = read_path
        self._plans: dict[tuple[str, str | None, int | None], ProductScan] = {}
        self._plans_lock = _PLANS_LOCK
        self._engines = EnginePool(_IDLE_ENGINES)

    @classmethod
    def load(cls, settings: Settings | None = None) -> Serving:
        """Serving on a runtime of `settings` (default: `Settings.load()`, the project found from the cwd)."""
        return cls(Runtime(settings or Settings.load()))

    @functools.cached_property
    def catalog(self) -> dict[str, ServedProduct]:
        """Every product the domains declare, and every domain's event log, by name."""
        return all_products(self.runtime) | event_logs(self.runtime)

    def access(self, principal: str | None) -> Access:
        """What `principal` may read according to the catalog (None: local access to everything)."""
        return access_for(self.runtime, principal)

    def allowed(self, access: Access) -> dict[str, ServedProduct]:
        """The products `access` may read, materialised or not."""
        return {n: p for n, p in self.catalog.items() if access.allows(n)}

    def readable(self, access: Access) -> dict[str, ServedProduct]:
        """The materialised products `access` may read."""
        return {n: p for n, p in self.allowed(access).items() if p.store.exists(p.table)}

    def plan(self, product: str, as_of: AsOf | None = None) -> ProductScan:
        """Plan a read of one product (no grant check; see `engine` and `scan`).

        The table is opened once (the Delta log or the Iceberg metadata read once) for its state, its
        history and the plan. Plans are kept by table state (Iceberg metadata file, Delta log version) or
        explicit version, so a server plans each table version once; a current plan whose state the store
        tells without opening the table (`current_state`: the Iceberg catalog's pointer) is not opened.

        Raises:
            KeyError: no such product.
            LookupError: the product has no table yet.
            ValueError: no such version, or no version at that time.
        """
        served = self.catalog[product]
        state = current_state(served.store, served.table) if as_of is None else None
        if state is not None and (known := _SHARED_PLANS.get((product, state, None))) is not None:
            return known  # the table is still at the state this plan was made from
        try:
            opened = open_table(served.store, served.table)
        except TableNotFoundError:
            raise LookupError(f"{product} has not been materialised yet: there is no table to read") from None
        version = resolve_version(opened, served.table, as_of)
        key = (product, opened.state, version)
        keep = opened.state is not None or version is not None
        plans = self._plans if opened.state is None else _SHARED_PLANS
        if keep and (cached := plans.get(key)) is not None:
            return cached
        scan = opened.plan(version)
        if keep:
            with self._plans_lock:
                if len(plans) >= _MAX_PLANS:
                    plans.pop(next(iter(plans)), None)
                plans[key] = scan
        return scan

    def engine(
        self,
        principal: str | None = None,
        *,
        access: Access | None = None,
        as_of: AsOfArg = None,
        read_path: ReadPath | None = None,
        config: Mapping[str, str | bool | int] | None = None,
    ) -> DuckDbQueryEngine:
        """A DuckDB query engine over what the principal may read; products are planned when used.

        Args:
            principal: a domain or reader name, checked against the catalog's grants; None for local access.
            access: an access already resolved (e.g. from a catalog token), instead of `principal`.
            as_of: a version or a time for every product, or a mapping `<domain>.<product>` → version/time.
            read_path: overrides the serving's read path.
            config: more DuckDB settings (memory limit...).
        """
        access = access if access is not None else self.access(principal)
        allowed = self.allowed(access)
        planners: dict[str, Callable[[], ProductScan]] = {
            name: functools.partial(self.plan, name, _as_of_for(as_of, name)) for name in allowed
        }
        explain = functools.partial(explain_unreadable, products=self.catalog, access=access, served=list(allowed))
        return DuckDbQueryEngine(planners, read_path=read_path or self.read_path, explain=explain, config=config)

    def connect(
        self,
        principal: str | None = None,
        *,
        as_of: AsOfArg = None,
        read_path: ReadPath | None = None,
        lockdown: bool = False,
    ) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with a view `<domain>.<product>` for every product the principal may read.

        A product without a table yet, or (with `as_of`) without a version at that time, is left out.
        With `lockdown`, the connection can read nothing but the views and its configuration is locked.

        Raises:
            ValueError: `as_of` matches no version of any readable product.
        """
        engine = self.engine(principal, as_of=as_of, read_path=read_path)
        problems: list[str] = []
        for name in engine.products():
            try:
                engine.attach([name])
            except (ValueError, LookupError) as exc:
                problems.append(str(exc))
        if problems and as_of is not None and not engine.scans():
            raise ValueError("; ".join(problems))
        if lockdown:
            engine.lock()
        return engine.connection

    def scan(self, product: str, *, as_of: AsOf | str | None = None, principal: str | None = None) -> pl.LazyFrame:
        """A Polars LazyFrame over one product (at `as_of`), if the principal may read it.

        Raises:
            QueryPermissionError: the principal may not read it, or it is not a data product.
            ValueError: no such version, or no version at that time.
        """
        access = self.access(principal)
        readable = self.readable(access)
        if product not in readable:
            TableId.parse(product)  # a malformed name says so
            reason = explain_unreadable(product, self.catalog, access, list(readable))
            raise QueryPermissionError(reason or f"{product} is not a data product (readable: {', '.join(readable)})")
        return lazy_frame(self.plan(product, _as_of_for(as_of, product)))

    def query(
        self,
        sql: str,
        principal: str | None = None,
        *,
        access: Access | None = None,
        as_of: AsOfArg = None,
        max_rows: int | None = None,
        timeout_s: float | None = None,
        config: Mapping[str, str | bool | int] | None = None,
    ) -> QueryResult:
        """Run one read-only SELECT over the readable products in a locked DuckDB connection.

        The engine is kept for the next query of the same access, time travel and settings (a server's
        case: no connecting, planning or view creation then), as long as each product the query names
        is still at the version the engine planned; otherwise a new engine is built.

        Args:
            sql: one SELECT (or WITH ... SELECT) over `<domain>.<product>` views.
            principal: a domain or reader name, checked against the catalog's grants; None for local access.
            access: an access already resolved (e.g. from a catalog token), instead of `principal`.
            as_of: a version or a time for every product, or a mapping `<domain>.<product>` → version/time.
            max_rows: rows returned at most (more sets `truncated`).
            timeout_s: seconds before the query is interrupted.
            config: more DuckDB settings (memory limit...).

        Raises:
            QueryRefusedError: not a single read-only SELECT, or a relation the principal may not read.
            QueryTimeoutError: it ran longer than `timeout_s`.
            QueryError: DuckDB rejected or failed the query.
        """
        access = access if access is not None else self.access(principal)
        key = _engine_key(access, as_of, config)
        engine = self._engines.take(key)
        if engine is not None and not engine.serves_as_planned(
            sql, lambda name: self.plan(name, _as_of_for(as_of, name))
        ):
            engine.close()
            engine = None
        if engine is None:
            engine = self.engine(access=access, as_of=as_of, config=config)
        try:
            result = engine.execute(sql, max_rows=max_rows, timeout_s=timeout_s)
        except BaseException:
            engine.close()
            raise
        self._engines.give(key, engine)
        return result

    def products(self, principal: str | None = None) -> list[ProductInfo]:
        """The products the principal may query, with their current version, update time and rows."""
        infos: list[ProductInfo] = []
        for name, served in sorted(self.readable(self.access(principal)).items()):
            if served.event_log:  # queried like a product, but not one
                continue
            try:
                scan = self.plan(name)
            except (LookupError, ValueError):
                continue
            history = served.store.history(served.table)
            updated = next((c.timestamp_ms for c in reversed(history) if c.version == scan.version), None)
            infos.append(
                ProductInfo(
                    name, str(scan.format), scan.version, updated, scan.row_count, served.owner, served.description
                )
            )
        return infos
