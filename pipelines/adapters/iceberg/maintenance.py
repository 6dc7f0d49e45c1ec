"""Maintenance of Iceberg tables: compaction, snapshot expiry with file cleanup, orphan file removal."""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.manifest import ManifestEntryStatus, ManifestFile
from pyiceberg.table import Table
from pyiceberg.table.update.snapshot import ExpireSnapshots

from pipelines.adapters.iceberg.candidates import IcebergCandidates
from pipelines.adapters.iceberg.compat import CachedTransaction, table_of
from pipelines.adapters.iceberg.incremental import _scan
from pipelines.adapters.iceberg.position_deletes import delete_files
from pipelines.adapters.iceberg.table_store import IcebergTableStore, _history
from pipelines.adapters.iceberg.transaction import commit_with_retries, row_changes, write_rows
from pipelines.adapters.storage import Location
from pipelines.core.names import TableId
from pipelines.ports.maintenance import Compaction, Expiry, carried_properties


def reachable_files(ice: Table) -> set[str]:
    """The URI of every file a snapshot still in the metadata (or the metadata itself) needs."""
    metadata = ice.metadata
    files = {ice.metadata_location, *(entry.metadata_file for entry in metadata.metadata_log)}
    files |= {stats.statistics_path for stats in [*metadata.statistics, *metadata.partition_statistics]}
    manifests: dict[str, ManifestFile] = {}
    for snapshot in metadata.snapshots:
        files.add(snapshot.manifest_list)
        manifests |= {m.manifest_path: m for m in snapshot.manifests(ice.io)}  # shared by many snapshots
    for uri, manifest in manifests.items():
        files.add(uri)
        for entry in manifest.fetch_manifest_entry(ice.io, discard_deleted=True):
            if entry.status != ManifestEntryStatus.DELETED:
                files.add(entry.data_file.file_path)
    return files


class IcebergMaintenance:
    """`TableMaintenance` over the tables of an `IcebergTableStore`, on whatever storage its warehouse is."""

    def __init__(self, store: IcebergTableStore) -> None:
        self._store = store

    def _table(self, table: TableId) -> Table:
        return self._store._load(table)  # same adapter package: the store's loader and its errors

    def _root(self, ice: Table) -> Location:
        return self._store.warehouse.at(ice.metadata.location)

    def data_files(self, table: TableId) -> int:
        """Data files of the current snapshot."""
        ice = self._table(table)
        return len(list(ice.scan().plan_files())) if ice.current_snapshot() else 0

    def stored_files(self, table: TableId) -> int:
        """Files under the table's location (data and metadata)."""
        return len(self._root(self._table(table)).list_files())

    def compact(self, table: TableId, small_file_bytes: int, min_files: int = 2) -> Compaction:
        """Rewrite the small data files into target-sized ones in one overwrite marked as maintenance.

        Files with rows deleted by position (merge-on-read updates) are rewritten each on its own without
        those rows, so that a silver key-range file keeps its range, and the position-delete files go:
        readers then open no delete file until the next update.
        """
        planned: tuple[int, int] | None = None  # files before and rows rewritten by the commit staged last
        before = 0
        written: list[str] = []  # data files of an attempt that lost its race, removed before the next

        def stage(tx: CachedTransaction) -> None:
            nonlocal planned, before
            ice = table_of(tx)
            self._root(ice).delete_files(written)
            written.clear()
            tasks = list(ice.scan().plan_files()) if ice.current_snapshot() else []
            deletes = bool(delete_files(ice.current_snapshot()))
            small = [t for t in tasks if t.file.file_size_in_bytes < small_file_bytes]
            merged = small if len(small) >= max(min_files, 2) else []
            before, planned = len(tasks), None
            if not merged and not deletes:
                return
            purged = [t for t in tasks if t.delete_files and t not in merged]
            props = carried_properties(_history(ice), "compaction")
            rewritten = 0
            with row_changes(tx, props, drop_position_deletes=deletes) as rewrite:
                for files in ([merged] if merged else []) + [[t] for t in purged]:
                    rows = _scan(ice, files)
                    for task in files:
                        rewrite.delete_data_file(task.file)
                    for data_file in write_rows(ice, rows):
                        written.append(data_file.file_path)
                        rewrite.append_data_file(data_file)
                    rewritten += rows.num_rows
            planned = (len(tasks), rewritten)

        try:
            ice = commit_with_retries(table, lambda: self._table(table), _history, None, stage)
        except CommitFailedException:
            self._root(self._table(table)).delete_files(written)
            raise
        if planned is None:
            return Compaction(before, before, 0, None)
        after = len(list(ice.scan().plan_files()))  # the table as committed (a rival may commit right after)
        return Compaction(planned[0], after, planned[1], self._store._last_commit(ice))

    def expire(self, table: TableId, retention: timedelta, keep: Collection[int] = ()) -> Expiry:
        """Expire snapshots older than `retention` and than every kept one (never the current one, nor a
        refused candidate younger than `retention`: an older one is discarded), then delete the files
        only they referenced."""
        cutoff = (datetime.now(UTC) - retention).timestamp() * 1000
        candidates = IcebergCandidates(self._store)
        refused = candidates.kept(table)
        discarded = None
        if refused is not None and refused.commit.timestamp_ms < cutoff:
            candidates.discard(table)
            discarded = refused.commit.version
        expired: list[int] = []
        before: set[str] = set()

        def stage(tx: CachedTransaction) -> None:
            nonlocal before
            ice = table_of(tx)
            kept = [s.timestamp_ms for s in ice.metadata.snapshots if s.snapshot_id in set(keep)]
            oldest = min([cutoff, *kept])
            heads = {ref.snapshot_id for ref in ice.metadata.refs.values()}  # the current one, a kept candidate
            expired[:] = [s.snapshot_id for s in ice.metadata.snapshots
                          if s.timestamp_ms < oldest and s.snapshot_id not in heads]  # fmt: skip
            if expired:
                before = reachable_files(ice)
                with ExpireSnapshots(tx) as expiry:
                    expiry.by_ids(expired)

        ice = commit_with_retries(table, lambda: self._table(table), _history, None, stage)
        if not expired:
            return Expiry(0, 0, discarded)
        gone = before - reachable_files(ice)
        self._root(ice).delete_files(sorted(gone))
        return Expiry(len(expired), len(gone), discarded)

    def remove_orphans(self, table: TableId, older_than: timedelta, keep: Collection[int] = ()) -> int:
        """Delete files under the table's location that no snapshot or metadata file references
        (the snapshots `keep` asks for are still in the metadata, so their files are referenced)."""
        ice = self._table(table)
        root = self._root(ice)
        referenced = {root.fs_path(uri) for uri in reachable_files(ice)}
        limit = time.time() - older_than.total_seconds()
        orphans = [f.uri for f in root.list_files() if root.fs_path(f.uri) not in referenced and f.mtime < limit]
        root.delete_files(orphans)
        return len(orphans)
