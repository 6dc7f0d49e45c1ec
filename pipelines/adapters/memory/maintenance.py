"""Maintenance of memory tables: a table's "files" are the chunks of its snapshots (for tests and fakes)."""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import timedelta

import pyarrow as pa

from pipelines.adapters.memory.table_store import MemoryTableStore
from pipelines.core.names import TableId
from pipelines.ports.maintenance import Compaction, Expiry, carried_properties


def _chunks(data: pa.Table) -> int:
    """Non-empty chunks: what a file is to a memory table."""
    return sum(1 for chunk in data.column(0).chunks if len(chunk)) if data.num_columns else 0


class MemoryMaintenance:
    """`TableMaintenance` over a `MemoryTableStore`: every append adds a chunk, compaction combines them."""

    def __init__(self, store: MemoryTableStore) -> None:
        self._store = store

    def data_files(self, table: TableId) -> int:
        """Chunks of the current snapshot."""
        return _chunks(self._store.read(table))

    def stored_files(self, table: TableId) -> int:
        """Chunks of every snapshot still kept."""
        state = self._store._get(table)  # same adapter package
        return sum(_chunks(s) for s in state.snapshots)

    def compact(self, table: TableId, small_file_bytes: int, min_files: int = 2) -> Compaction:
        """Combine the chunks of the current snapshot into one, in a new commit carrying the state."""
        before = self.data_files(table)
        if before < max(min_files, 2):
            return Compaction(before, before, 0, None)
        data = self._store.read(table).combine_chunks()
        commit = self._store.overwrite(table, data, carried_properties(self._store.history(table), "compaction"))
        return Compaction(before, self.data_files(table), data.num_rows, commit)

    def expire(self, table: TableId, retention: timedelta, keep: Collection[int] = ()) -> Expiry:
        """Forget snapshots older than `retention` and than every kept version, keeping the current one, and
        candidates older than `retention`."""
        state = self._store._get(table)  # same adapter package
        oldest_kept = min((i for i, c in enumerate(state.commits) if c.version in keep), default=len(state.commits))
        cutoff = time.time() * 1000 - retention.total_seconds() * 1000
        kept = [
            i
            for i, c in enumerate(state.commits)
            if c.timestamp_ms >= cutoff or i >= oldest_kept or i == len(state.commits) - 1
        ]
        dropped = len(state.commits) - len(kept)
        freed = sum(_chunks(state.snapshots[i]) for i in range(len(state.commits)) if i not in kept)
        state.commits[:] = [state.commits[i] for i in kept]
        state.snapshots[:] = [state.snapshots[i] for i in kept]
        discarded = (
            state.kept if state.kept is not None and state.staged[state.kept].commit.timestamp_ms < cutoff else None
        )
        for version in [v for v, staged in state.staged.items() if staged.commit.timestamp_ms < cutoff]:
            freed += _chunks(state.staged.pop(version).rows)  # candidates, refused or never published, age out
        state.kept = None if discarded is not None else state.kept
        return Expiry(dropped, freed, discarded)

    def remove_orphans(self, table: TableId, older_than: timedelta, keep: Collection[int] = ()) -> int:
        """Memory tables have no files of their own to orphan."""
        self._store._get(table)
        return 0
