"""Scan planning for serving: one Iceberg table version resolved to its data files and an Arrow dataset."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

import pyarrow.dataset as ds
from pyiceberg.table import StaticTable

from pipelines.adapters.iceberg.schema_ids import arrow_schema
from pipelines.adapters.iceberg.table_store import IcebergTableStore
from pipelines.adapters.storage import Location
from pipelines.core.commits import TableFormat
from pipelines.core.names import TableId
from pipelines.ports.query_engine import ProductScan
from pipelines.ports.table_store import TableStore


def local_path(uri: str) -> str:
    """A `file://` URI as a local path; any other location unchanged."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def _object_storage(store: TableStore) -> Location | None:
    """The warehouse of an Iceberg store when it is not on the local disk."""
    if isinstance(store, IcebergTableStore) and not store.warehouse.is_local:
        return store.warehouse
    return None


def plan_iceberg_scan(store: TableStore, table: TableId, version: int | None = None) -> ProductScan:
    """Plan a read of `table` at its current snapshot or at snapshot `version`.

    The table is opened from its metadata file (`store.location`), so planning needs only the port.
    Projection and filters are left to the engine: the Arrow handoff is a `pyarrow.dataset` over the
    planned data files, with the snapshot's schema (columns added later read as nulls).

    Raises:
        TableNotFoundError: the table does not exist.
        ValueError: `version` is not a snapshot of the table.
    """
    metadata_location = store.location(table)
    storage = _object_storage(store)
    properties = storage.iceberg_properties() if storage else {}
    ice = StaticTable.from_metadata(metadata_location, properties=properties)
    if version is not None and ice.snapshot_by_id(version) is None:
        raise ValueError(f"{table} has no version {version}")
    snapshot_id = version if version is not None else ice.metadata.current_snapshot_id
    scan = ice.scan(snapshot_id=snapshot_id)
    schema = arrow_schema(scan.projection())
    root = local_path(ice.metadata.location) if storage is None else None
    if snapshot_id is None:
        empty = schema.empty_table()
        return ProductScan(
            str(table),
            TableFormat.ICEBERG,
            None,
            schema,
            metadata_location,
            lambda: empty,
            root,
            exact=True,
            row_count=0,
            storage=storage,
        )
    tasks = list(scan.plan_files())
    files = tuple(local_path(task.file.file_path) for task in tasks)
    if any(task.delete_files for task in tasks):  # merge-on-read deletes: pyiceberg applies them
        arrow = lambda: scan.to_arrow().cast(schema)  # noqa: E731
        return ProductScan(
            str(table), TableFormat.ICEBERG, snapshot_id, schema, metadata_location, arrow, root, files, storage=storage
        )

    def dataset() -> object:
        if not files:
            return schema.empty_table()
        if storage is None:
            return ds.dataset(list(files), schema=schema, format="parquet")
        paths = [storage.fs_path(f) for f in files]
        return ds.dataset(paths, schema=schema, format="parquet", filesystem=storage.filesystem)

    rows = sum(task.file.record_count for task in tasks)
    groups = sum(len(task.file.split_offsets or ()) or 1 for task in tasks)  # one split offset per row group
    return ProductScan(
        str(table),
        TableFormat.ICEBERG,
        snapshot_id,
        schema,
        metadata_location,
        dataset,
        root,
        files,
        True,
        rows,
        groups,
        storage,
    )
