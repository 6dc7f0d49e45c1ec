"""Scan planning for serving: one Iceberg table version resolved to its data files and an Arrow dataset."""

from __future__ import annotations

import functools
from urllib.parse import unquote, urlparse

import pyarrow.dataset as ds

from pipelines.adapters.iceberg.file_ranges import file_ranges
from pipelines.adapters.iceberg.schema_ids import arrow_schema
from pipelines.adapters.iceberg.table_store import IcebergTableStore, _history
from pipelines.core.commits import Commit, TableFormat
from pipelines.core.names import TableId
from pipelines.ports.query_engine import ProductScan


def local_path(uri: str) -> str:
    """A `file://` URI as a local path; any other location unchanged."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


class IcebergScans:
    """One Iceberg table loaded once from its catalog (one metadata file read) for serving: its state,
    history and scans.

    Raises:
        TableNotFoundError: the table does not exist.
    """

    def __init__(self, store: IcebergTableStore, table: TableId) -> None:
        self._store = store
        self._table = table
        self._ice = store._load(table)  # same adapter package: the store's loader and its errors

    @property
    def state(self) -> str:
        """The table's current metadata file: every commit writes a new one."""
        return self._ice.metadata_location

    def history(self) -> list[Commit]:
        """The store's commits, from the metadata loaded at opening."""
        return _history(self._ice)

    def plan(self, version: int | None = None) -> ProductScan:
        """Plan a read of the table at its current snapshot or at snapshot `version`.

        Projection and filters are left to the engine: the Arrow handoff is a `pyarrow.dataset` over the
        planned data files, with the snapshot's schema (columns added later read as nulls).

        Raises:
            ValueError: `version` is not a snapshot the table published (a candidate is not, `IcebergCandidates`).
        """
        table, ice = self._table, self._ice
        metadata_location = ice.metadata_location
        storage = None if self._store.warehouse.is_local else self._store.warehouse
        published = {entry.snapshot_id for entry in ice.metadata.snapshot_log}  # never a candidate
        if version is not None and (ice.snapshot_by_id(version) is None or version not in published):
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
                str(table),
                TableFormat.ICEBERG,
                snapshot_id,
                schema,
                metadata_location,
                arrow,
                root,
                files,
                storage=storage,
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
        ranges = functools.cache(lambda: file_ranges([task.file for task in tasks], scan.projection(), schema))
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
            ranges,
        )
