"""Maintenance of Delta tables: OPTIMIZE compaction, VACUUM with a retention, orphan file removal."""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from math import ceil

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable

from pipelines.adapters.delta.incremental import file_path, log_entry
from pipelines.adapters.delta.staged_commits import STAGED_FILE, read_staged, unstage
from pipelines.adapters.delta.table_store import WRITER_PROPERTIES, DeltaTableStore
from pipelines.adapters.storage import Location
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
        return len(self._store._path(table).list_files())

    def _files_on_disk(self, table: TableId) -> int:
        root = self._store._path(table)
        log = root.child_uri("_delta_log") + "/"
        return sum(1 for f in root.list_files() if not f.uri.startswith(log))

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
        the log entries before the newest checkpoint that no retained version needs. A staged commit (a
        refused candidate) older than `retention` is discarded first.

        A consumer at a kept version reads the log entries and the files of that version and the later
        ones (what was appended, what was rewritten), so those stay (`keep_versions`), whatever their age.
        """
        delta = self._open(table)
        root = self._store._path(table)
        before = self._store.history(table)
        staged = read_staged(root)
        if staged is not None and staged.commit.timestamp_ms < (time.time() - retention.total_seconds()) * 1000:
            unstage(root, published=False)  # a refused candidate past retention goes (VACUUM takes its files)
        delta.create_checkpoint()  # before VACUUM's own commits: at the newest data commit, which stays
        files = self._files_on_disk(table)
        self._vacuum(delta, retention, keep)
        deleted = files - self._files_on_disk(table)
        oldest = self._oldest_needed(table, retention, keep)
        checkpoints = [v for v in _checkpoints(root) if v <= oldest]
        if checkpoints:
            base = max(checkpoints)
            versions = {f.uri: _log_version(f.uri) for f in (root / "_delta_log").list_files(recursive=False)}
            old = [uri for uri, version in versions.items() if version is not None and version < base]
            root.delete_files(old)
            deleted += len(old)
        return Expiry(len(before) - len(self._store.history(table)), deleted)

    def remove_orphans(self, table: TableId, older_than: timedelta, keep: Collection[int] = ()) -> int:
        """Delete data files that no version still in the log names (never committed, e.g. left by a writer
        that died), once older than `older_than`: a file a concurrent writer has not committed yet is young.
        A staged commit younger than that keeps its files; an older one goes with them.

        Files a commit removed stay while their commit is in the log (`expire` deletes those); the
        files of kept versions are named by their commits or the later ones. Listing and age come from
        the storage (seconds), not from delta-rs's VACUUM, whose retention counts whole hours.
        """
        delta = self._open(table)
        root = self._store._path(table)
        current = pa.table(delta.get_add_actions(flatten=True)).column("path").to_pylist()
        referenced = {file_path(root, path) for path in current}
        for log_file in (root / "_delta_log").list_files(recursive=False):
            if log_file.uri.endswith(".json") and (version := _log_version(log_file.uri)) is not None:
                for action in log_entry(root, version) or []:
                    named = action.get("add") or action.get("remove")
                    if named:
                        referenced.add(file_path(root, named["path"]))
        limit = time.time() - older_than.total_seconds()
        staged = read_staged(root)
        if staged is not None and staged.commit.timestamp_ms >= limit * 1000:  # a young candidate keeps its files
            referenced |= {file_path(root, a.path) for a in staged.added}
            referenced.add(root.fs_path(root.child_uri(STAGED_FILE)))
        log = root.child_uri("_delta_log") + "/"
        orphans = [
            f.uri
            for f in root.list_files()
            if not f.uri.startswith(log) and f.mtime < limit and root.fs_path(f.uri) not in referenced
        ]
        root.delete_files(orphans)
        return len(orphans)

    def _oldest_needed(self, table: TableId, retention: timedelta, keep: Collection[int]) -> int:
        """The oldest version whose log entry a reader may still need: the newest data commit (it holds
        the table's state), one within `retention`, or a kept one."""
        history = self._store.history(table)
        current = history[-1].version if history else self._open(table).version()
        cutoff = (datetime.now(UTC) - retention).timestamp() * 1000
        within = [c.version for c in history if c.timestamp_ms >= cutoff]
        return min([current, *within, *keep])

    @staticmethod
    def _vacuum(delta: DeltaTable, retention: timedelta, keep: Collection[int]) -> None:
        """VACUUM with `retention`, keeping the files of every kept version and of the versions after it."""
        current = delta.version()
        kept = list(range(min(keep), current + 1)) if keep and min(keep) < current else None
        delta.vacuum(
            retention_hours=_hours(retention),
            dry_run=False,
            enforce_retention_duration=False,
            keep_versions=kept,
        )


def _log_version(uri: str) -> int | None:
    """The version a `_delta_log` file belongs to (commit, checkpoint, checksum), None for others."""
    head = uri.rsplit("/", 1)[-1].split(".")[0]
    return int(head) if head.isdigit() and len(head) == 20 else None


def _checkpoints(root: Location) -> list[int]:
    """The versions the `_delta_log` holds a checkpoint of."""
    files = (root / "_delta_log").list_files(recursive=False)
    found = {_log_version(f.uri) for f in files if ".checkpoint" in f.uri.rsplit("/", 1)[-1]}
    return sorted(v for v in found if v is not None)
