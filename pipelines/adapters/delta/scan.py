"""Scan planning for serving: one Delta table version resolved to its data files and an Arrow dataset."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import DeltaTable

from pipelines.adapters.delta.table_store import GENERATION_KEY, PARTITION_COLUMN_PREFIX, DeltaTableStore
from pipelines.adapters.storage import Location
from pipelines.core.commits import TableFormat
from pipelines.core.names import TableId
from pipelines.ports.query_engine import ProductScan
from pipelines.ports.table_store import TableStore


def _local(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def _served(field: pa.Field) -> bool:
    hidden = field.name.startswith(PARTITION_COLUMN_PREFIX) and GENERATION_KEY in (field.metadata or {})
    return not hidden


def plan_delta_scan(store: TableStore, table: TableId, version: int | None = None) -> ProductScan:
    """Plan a read of `table` at its current version or at version `version`.

    The Arrow handoff is a `pyarrow.dataset`: over the data files with the served schema when they hold
    every column and row, else delta-rs's own dataset (partition values from the log, deletion vectors),
    which may carry hidden partition columns the engine does not select.

    Raises:
        TableNotFoundError: the table does not exist.
        ValueError: `version` is not a version of the table.
    """
    location = store.location(table)
    known = {c.version for c in store.history(table)}
    if version is not None and version not in known:
        raise ValueError(f"{table} has no version {version}")
    storage = object_storage(store)
    options = storage.delta_options() if storage else None
    delta = DeltaTable(location, version=version, storage_options=options)
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
    exact = not delta.metadata().partition_columns and "deletionVectors" not in features

    def dataset() -> object:
        if not files:
            return schema.empty_table()
        if exact and storage is None:
            return ds.dataset(list(files), schema=schema, format="parquet")
        if exact and storage is not None:
            paths = [storage.fs_path(f) for f in files]
            return ds.dataset(paths, schema=schema, format="parquet", filesystem=storage.filesystem)
        return delta.to_pyarrow_dataset()

    rows = _row_count(delta) if "deletionVectors" not in features else None
    groups = _row_groups(files, storage) if exact else None
    return ProductScan(
        str(table), TableFormat.DELTA, served_version, schema, location, dataset, root, files, exact, rows, groups,
        storage,
    )  # fmt: skip


def object_storage(store: TableStore) -> Location | None:
    """The root of a Delta store when it is not on the local disk."""
    if isinstance(store, DeltaTableStore) and not store.storage.is_local:
        return store.storage
    return None


def log_version(store: TableStore, location: str) -> int:
    """The latest version in the Delta log at `location`: it changes with every commit (data or not)."""
    storage = object_storage(store)
    return int(DeltaTable(location, storage_options=storage.delta_options() if storage else None).version())


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
