"""Scan planning for serving: one Delta table version resolved to its data files and an Arrow dataset."""

from __future__ import annotations

import functools
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import DeltaTable

from pipelines.adapters.delta.arrow_reads import arrow_dataset
from pipelines.adapters.delta.file_ranges import file_ranges
from pipelines.adapters.delta.latest import latest_table
from pipelines.adapters.delta.table_store import GENERATION_KEY, PARTITION_COLUMN_PREFIX, DeltaTableStore
from pipelines.adapters.storage import Location
from pipelines.core.commits import Commit, TableFormat
from pipelines.core.names import TableId
from pipelines.ports.query_engine import ProductScan


def _local(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def _served(field: pa.Field) -> bool:
    hidden = field.name.startswith(PARTITION_COLUMN_PREFIX) and GENERATION_KEY in (field.metadata or {})
    return not hidden


class DeltaScans:
    """One Delta table opened once (its log listed and read once) for serving: its state, history and scans.

    Raises:
        TableNotFoundError: the table does not exist.
    """

    def __init__(self, store: DeltaTableStore, table: TableId) -> None:
        self._store = store
        self._table = table
        self._delta = latest_table(store, table)
        self._history: list[Commit] | None = None

    @property
    def state(self) -> str:
        """The table root at its latest log version: it changes with every commit (data or not)."""
        return f"{self._delta.table_uri}@{self._delta.version()}"

    def history(self) -> list[Commit]:
        """The store's data commits, from the log read at opening."""
        if self._history is None:
            self._history = self._store._history(self._delta)  # same adapter package
        return self._history

    def plan(self, version: int | None = None) -> ProductScan:
        """Plan a read of the table at its latest version or at version `version`.

        The Arrow handoff is a `pyarrow.dataset`: over the data files with the served schema when they hold
        every column and row, else delta-rs's own dataset (partition values from the log, deletion vectors),
        which may carry hidden partition columns the engine does not select.

        Raises:
            ValueError: `version` is not a version of the table.
        """
        table = self._table
        known = {c.version for c in self.history()}
        if version is not None and version not in known:
            raise ValueError(f"{table} has no version {version}")
        delta = self._delta if version is None else self._store._open(table, version)
        location = str(delta.table_uri)
        storage = None if self._store.storage.is_local else self._store.storage
        full_schema = pa.schema(delta.schema().to_arrow())
        schema = pa.schema([f for f in full_schema if _served(f)])
        current = delta.version()
        # The data commit the version holds: commits after it (vacuum, properties) change no rows;
        # version 0 (CREATE TABLE) alone means no data yet.
        served_version = max((v for v in known if v <= current), default=None)
        root = _local(location) if storage is None else None
        if served_version is None:
            empty = schema.empty_table()
            return ProductScan(
                str(table),
                TableFormat.DELTA,
                None,
                schema,
                location,
                lambda: empty,
                root,
                exact=True,
                row_count=0,
                storage=storage,
            )
        files = tuple(_local(uri) for uri in delta.file_uris())
        features = set(delta.protocol().reader_features or ())
        # Hidden partition columns (generated from a served one) are not served: the files hold the rest.
        in_log = set(delta.metadata().partition_columns) & set(schema.names)
        exact = not in_log and "deletionVectors" not in features

        def dataset() -> object:
            if not files:
                return schema.empty_table()
            if exact and storage is None:
                return ds.dataset(list(files), schema=schema, format="parquet")
            if exact and storage is not None:
                paths = [storage.fs_path(f) for f in files]
                return ds.dataset(paths, schema=schema, format="parquet", filesystem=storage.filesystem)
            return arrow_dataset(delta, self._store.storage)

        rows = _row_count(delta) if "deletionVectors" not in features else None
        groups = _row_groups(files, storage) if exact else None
        ranges = functools.cache(lambda: file_ranges(delta, files, schema)) if exact else None
        return ProductScan(
            str(table), TableFormat.DELTA, served_version, schema, location, dataset, root, files, exact, rows, groups,
            storage, ranges,
        )  # fmt: skip


def _row_groups(files: tuple[str, ...], storage: Location | None, most_files: int = 32) -> int | None:
    """Row groups of the files, from their footers (the Delta log does not record them); None for many files."""
    if len(files) > most_files:
        return None
    if storage is None:
        return sum(int(pq.read_metadata(f).num_row_groups) for f in files)
    filesystem = storage.filesystem
    return sum(int(pq.read_metadata(storage.fs_path(f), filesystem=filesystem).num_row_groups) for f in files)


def _row_count(delta: DeltaTable) -> int | None:
    """Rows of the version from the log's per-file statistics, None when a file has none."""
    counts = pa.table(delta.get_add_actions(flatten=True))["num_records"]
    return None if counts.null_count else int(pc.sum(counts).as_py() or 0)
