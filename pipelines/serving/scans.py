"""Time travel and scan planning by table format: `as_of` → a version → a `ProductScan`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from pipelines.core.commits import Commit, TableFormat
from pipelines.core.names import TableId
from pipelines.ports.query_engine import AsOf, ProductScan
from pipelines.ports.table_store import TableStore


def parse_as_of(text: str) -> AsOf:
    """`12345` → a version; an ISO-8601 time (`2026-05-01`, `2026-05-01T12:00:00Z`) → a UTC datetime.

    Raises:
        ValueError: neither an integer nor an ISO-8601 date or time.
    """
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"as-of {text!r} is neither a version (an integer) nor an ISO-8601 time such as 2026-05-01T12:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class OpenedTable(Protocol):
    """One table opened once for serving (the Delta log or the Iceberg metadata read once): what names its
    state, its commits, and scans of its versions, all from that one read."""

    @property
    def state(self) -> str | None:
        """What names the table's current state (the Iceberg metadata file, the Delta root at its latest log
        version); None for a store whose state has no name (nothing planned from it may be kept)."""
        ...

    def history(self) -> list[Commit]:
        """The table's commits, oldest first."""
        ...

    def plan(self, version: int | None = None) -> ProductScan:
        """A scan of `version` (the current one when None).

        Raises:
            ValueError: `version` is not a version of the table.
        """
        ...


class _StoreTable:
    """Any other store (e.g. memory): the table read through the port, as an Arrow table."""

    state = None

    def __init__(self, store: TableStore, table: TableId) -> None:
        store.location(table)  # a missing table says so
        self._store = store
        self._table = table

    def history(self) -> list[Commit]:
        return self._store.history(self._table)

    def plan(self, version: int | None = None) -> ProductScan:
        store, table = self._store, self._table
        history = self.history()
        if version is not None and version not in {c.version for c in history}:
            raise ValueError(f"{table} has no version {version}")
        served = version if version is not None else (history[-1].version if history else None)
        data = store.read(table, as_of=version)
        return ProductScan(str(table), store.format, served, data.schema, store.location(table), lambda: data)


def open_table(store: TableStore, table: TableId) -> OpenedTable:
    """`table` opened once with its store's format planner.

    Raises:
        TableNotFoundError: the table does not exist.
    """
    if store.format is TableFormat.ICEBERG:
        from pipelines.adapters.iceberg.scan import IcebergScans
        from pipelines.adapters.iceberg.table_store import IcebergTableStore

        if isinstance(store, IcebergTableStore):
            return IcebergScans(store, table)
    if store.format is TableFormat.DELTA:
        from pipelines.adapters.delta.scan import DeltaScans
        from pipelines.adapters.delta.table_store import DeltaTableStore

        if isinstance(store, DeltaTableStore):
            return DeltaScans(store, table)
    return _StoreTable(store, table)


def current_state(store: TableStore, table: TableId) -> str | None:
    """The `state` `open_table(store, table)` would have now, when the store tells it without opening the
    table (an Iceberg SQL catalog: the metadata file it points to, one SELECT); None otherwise."""
    if store.format is TableFormat.ICEBERG:
        from pipelines.adapters.iceberg.table_store import IcebergTableStore

        if isinstance(store, IcebergTableStore):
            return store.metadata_location(table)
    return None


def resolve_version(opened: OpenedTable, table: TableId, as_of: AsOf | None) -> int | None:
    """The version to read: `as_of` itself when it is a version, else the last commit at or before it.

    Raises:
        ValueError: the table had no commit at that time.
    """
    if as_of is None or isinstance(as_of, int):
        return as_of
    moment = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    cutoff_ms = int(moment.timestamp() * 1000)
    commits = [c for c in opened.history() if c.timestamp_ms <= cutoff_ms]
    if not commits:
        raise ValueError(f"{table} has no version at or before {moment.isoformat()}")
    return max(commits, key=lambda c: c.sequence).version


def plan_scan(store: TableStore, table: TableId, as_of: AsOf | None = None) -> ProductScan:
    """Plan a read of `table` at `as_of` (current version when None) with the store's format planner.

    Raises:
        TableNotFoundError: the table does not exist.
        ValueError: no such version, or no version at that time.
    """
    opened = open_table(store, table)
    return opened.plan(resolve_version(opened, table, as_of))
