"""Maintenance of Delta tables: OPTIMIZE compaction, VACUUM with a retention, orphan file removal."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from math import ceil

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable

from pipelines.adapters.delta.table_store import DeltaTableStore
from pipelines.core.names import TableId
from pipelines.ports.maintenance import Compaction, Expiry, carried_properties


def _hours(span: timedelta) -> int:
    return max(0, ceil(span.total_seconds() / 3600)) if span.total_seconds() > 0 else 0


class DeltaMaintenance:
    """`TableMaintenance` over the tables of a `DeltaTableStore`."""

    def __init__(self, store: DeltaTableStore) -> None:
        self._store = store

    def _open(self, table: TableId) -> DeltaTable:
        return self._store._open(table)  # same adapter package: the store's opener and its errors

    def data_files(self, table: TableId) -> int:
        """Data files of the current version."""
        return int(pa.table(self._open(table).get_add_actions(flatten=True)).num_rows)

    def stored_files(self, table: TableId) -> int:
        """Files under the table's directory (data and `_delta_log`)."""
        root = self._store._path(table)
        return sum(1 for p in root.rglob("*") if p.is_file())

    def _files_on_disk(self, table: TableId) -> int:
        root = self._store._path(table)
        return sum(1 for p in root.rglob("*") if p.is_file() and "_delta_log" not in p.relative_to(root).parts)

    def compact(self, table: TableId, small_file_bytes: int, min_files: int = 2) -> Compaction:
        """OPTIMIZE the files smaller than `small_file_bytes`, committing the carried state properties."""
        delta = self._open(table)
        files = pa.table(delta.get_add_actions(flatten=True)).to_pylist()
        small = [f for f in files if f["size_bytes"] < small_file_bytes]
        if len(small) < max(min_files, 2):
            return Compaction(len(files), len(files), 0, None)
        props = carried_properties(self._store.history(table), "compaction")
        metrics = delta.optimize.compact(
            target_size=max(small_file_bytes * 4, 1 << 20), commit_properties=CommitProperties(custom_metadata=props)
        )
        rows = int(sum(f["num_records"] or 0 for f in small))
        after = self.data_files(table)
        commit = self._store.history(table)[-1] if metrics.get("numFilesRemoved") else None
        return Compaction(len(files), after, rows, commit)

    def expire(self, table: TableId, retention: timedelta, keep: Collection[int] = ()) -> Expiry:
        """VACUUM the files that versions older than `retention` alone needed; checkpoint the log.

        The log keeps every version (until its own retention), so a consumer's watermark stays
        valid; should a file appended after it have been compacted and vacuumed, that consumer's
        next read is a full one (correct, only slower), so `keep` needs no special handling here.
        """
        delta = self._open(table)
        cutoff = (datetime.now(UTC) - retention).timestamp() * 1000
        history = self._store.history(table)
        expired = sum(1 for c in history[:-1] if c.timestamp_ms < cutoff)
        before = self._files_on_disk(table)
        delta.vacuum(retention_hours=_hours(retention), dry_run=False, enforce_retention_duration=False)
        deleted = before - self._files_on_disk(table)
        delta.create_checkpoint()
        return Expiry(expired if deleted else 0, deleted)

    def remove_orphans(self, table: TableId, older_than: timedelta) -> int:
        """VACUUM FULL: also delete files the log never referenced, older than `older_than`."""
        delta = self._open(table)
        before = self._files_on_disk(table)
        delta.vacuum(retention_hours=_hours(older_than), dry_run=False, enforce_retention_duration=False, full=True)
        return before - self._files_on_disk(table)  # vacuum lists files it had deleted before as well
