"""Maintenance of Delta tables: OPTIMIZE compaction, VACUUM with a retention, orphan file removal."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from math import ceil
from pathlib import Path

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable

from pipelines.adapters.delta.table_store import WRITER_PROPERTIES, DeltaTableStore
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
        """OPTIMIZE the files smaller than `small_file_bytes` into files of up to that size, committing the
        carried state properties (delta-rs takes every file below its target size, so the target is that
        size: a larger one would also merge the files meant to stay, e.g. silver's key-range files)."""
        delta = self._open(table)
        files = pa.table(delta.get_add_actions(flatten=True)).to_pylist()
        small = [f for f in files if f["size_bytes"] < small_file_bytes]
        if len(small) < max(min_files, 2):
            return Compaction(len(files), len(files), 0, None)
        props = carried_properties(self._store.history(table), "compaction")
        metrics = delta.optimize.compact(
            target_size=small_file_bytes,
            writer_properties=WRITER_PROPERTIES,
            commit_properties=CommitProperties(custom_metadata=props),
        )
        rows = int(sum(f["num_records"] or 0 for f in small))
        after = self.data_files(table)
        commit = self._store.history(table)[-1] if metrics.get("numFilesRemoved") else None
        return Compaction(len(files), after, rows, commit)

    def expire(self, table: TableId, retention: timedelta, keep: Collection[int] = ()) -> Expiry:
        """VACUUM the files only versions older than `retention` needed, checkpoint the log and delete
        the log entries before the newest checkpoint that no retained version needs.

        A consumer at a kept version reads the log entries and the files of that version and the later
        ones (what was appended, what was rewritten), so those stay (`keep_versions`), whatever their age.
        """
        delta = self._open(table)
        root = self._store._path(table)
        before = self._store.history(table)
        delta.create_checkpoint()  # before VACUUM's own commits: at the newest data commit, which stays
        files = self._files_on_disk(table)
        self._vacuum(delta, retention, keep, full=False)
        deleted = files - self._files_on_disk(table)
        oldest = self._oldest_needed(table, retention, keep)
        checkpoints = [v for v in _checkpoints(root) if v <= oldest]
        if checkpoints:
            base = max(checkpoints)
            for path in (root / "_delta_log").iterdir():
                version = _log_version(path)
                if version is not None and version < base:
                    path.unlink(missing_ok=True)
                    deleted += 1
        return Expiry(len(before) - len(self._store.history(table)), deleted)

    def remove_orphans(self, table: TableId, older_than: timedelta, keep: Collection[int] = ()) -> int:
        """VACUUM FULL: also delete files the log never referenced, older than `older_than`."""
        delta = self._open(table)
        before = self._files_on_disk(table)
        self._vacuum(delta, older_than, keep, full=True)
        return before - self._files_on_disk(table)  # vacuum lists files it had deleted before as well

    def _oldest_needed(self, table: TableId, retention: timedelta, keep: Collection[int]) -> int:
        """The oldest version whose log entry a reader may still need: the newest data commit (it holds
        the table's state), one within `retention`, or a kept one."""
        history = self._store.history(table)
        current = history[-1].version if history else self._open(table).version()
        cutoff = (datetime.now(UTC) - retention).timestamp() * 1000
        within = [c.version for c in history if c.timestamp_ms >= cutoff]
        return min([current, *within, *keep])

    @staticmethod
    def _vacuum(delta: DeltaTable, retention: timedelta, keep: Collection[int], full: bool) -> None:
        """VACUUM with `retention`, keeping the files of every kept version and of the versions after it."""
        current = delta.version()
        kept = list(range(min(keep), current + 1)) if keep and min(keep) < current else None
        delta.vacuum(
            retention_hours=_hours(retention),
            dry_run=False,
            enforce_retention_duration=False,
            full=full,
            keep_versions=kept,
        )


def _log_version(path: Path) -> int | None:
    """The version a `_delta_log` file belongs to (commit, checkpoint, checksum), None for others."""
    head = path.name.split(".")[0]
    return int(head) if head.isdigit() and len(head) == 20 else None


def _checkpoints(root: Path) -> list[int]:
    """The versions the `_delta_log` holds a checkpoint of."""
    found = {_log_version(p) for p in (root / "_delta_log").iterdir() if ".checkpoint" in p.name}
    return sorted(v for v in found if v is not None)
