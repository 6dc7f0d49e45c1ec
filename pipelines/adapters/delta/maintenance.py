"""Maintenance of Delta tables: compaction, VACUUM with a retention, orphan file removal."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from math import ceil
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction, RemoveAction

from pipelines.adapters.delta.data_files import DeltaDataFile
from pipelines.adapters.delta.incremental import _partition_values, file_path, log_entry
from pipelines.adapters.delta.staged_commits import KEPT_FILE, STAGED_FILE, read_staged, unstage
from pipelines.adapters.delta.table_store import DeltaTableStore
from pipelines.adapters.storage import Location
from pipelines.core.names import TableId
from pipelines.ports.maintenance import Compaction, Expiry, carried_properties
from pipelines.ports.table_evolution import align_to_schema


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
        """Merge the files smaller than `small_file_bytes`, partition by partition, into files of up to about
        that size (a larger target would also merge the files meant to stay, e.g. silver's key-range
        files), in one commit of the carried state properties whose files change no data.

        It commits through the store's commit loop, once on the version it planned on: a compaction
        that lost a race (an append landed) is planned again on the winner's version, its files and
        carried properties read again, so that it never carries an older ledger or watermark over a
        newer commit. delta-rs's OPTIMIZE is not used: it commits on top of a newer version itself,
        with the properties it was given (see test_delta_commit_conflicts).
        """
        root = self._store._path(table)
        planned: tuple[int, int] | None = None  # files before and rows rewritten by the compaction committed
        before = 0
        written: list[str] = []  # data files of an attempt that lost its race, removed before the next

        def commit(current: DeltaTable, commit_properties: CommitProperties) -> None:
            nonlocal planned, before
            root.delete_files(written)
            written.clear()
            files = pa.table(current.get_add_actions(flatten=True)).to_pylist()
            small = [f for f in files if f["size_bytes"] < small_file_bytes]
            before, planned = len(files), None
            if len(small) < max(min_files, 2):
                return
            columns = current.metadata().partition_columns
            stored = pa.schema([f for f in pa.schema(current.schema().to_arrow()) if f.name not in columns])
            now = int(time.time() * 1000)
            actions: list[AddAction | RemoveAction] = []
            rows = 0
            for group in _bins(small, small_file_bytes):
                values = _partition_values(group[0])
                merged = DeltaDataFile(root, {c: values.get(c) for c in columns}, columns)
                written.append(merged.uri)
                for f in group:
                    held = pq.read_table(file_path(root, f["path"]), filesystem=root.filesystem)
                    merged.write(align_to_schema(held, stored))  # written before an evolution: as the table is now
                    actions.append(RemoveAction(f["path"], False, now, f["size_bytes"], values))
                    rows += int(f["num_records"] or 0)
                merged.close()
                assert merged.action is not None, "closed"
                actions.append(replace(merged.action, data_change=False))
            if not actions:
                return
            commit_properties.custom_metadata = carried_properties(self._store._history(current), "compaction")
            self._store._transaction(current, actions, commit_properties)
            planned = (len(files), rows)

        try:
            self._store._commit_with_retries(table, {}, None, commit)
        except CommitFailedError:
            root.delete_files(written)
            raise
        if planned is None:
            return Compaction(before, before, 0, None)
        committed = self._open(table)  # the table written through still shows the version before
        return Compaction(planned[0], self.data_files(table), planned[1], self._store._commit_of(table, committed))

    def expire(self, table: TableId, retention: timedelta, keep: Collection[int] = ()) -> Expiry:
        """VACUUM the files only versions older than `retention` needed, checkpoint the log and delete
        the log entries before the newest checkpoint that no retained version needs. A staged commit (a
        refused candidate, or one whose run died before its audit) older than `retention` is discarded first.

        A consumer at a kept version reads the log entries and the files of that version and the later
        ones (what was appended, what was rewritten), so those stay (`keep_versions`), whatever their age.
        """
        delta = self._open(table)
        root = self._store._path(table)
        before = self._store.history(table)
        discarded = None
        for slot in (STAGED_FILE, KEPT_FILE):  # a candidate past retention goes (VACUUM would take its files)
            staged = read_staged(root, slot)
            if staged is not None and staged.commit.timestamp_ms < (time.time() - retention.total_seconds()) * 1000:
                unstage(root, published=False, slot=slot)
                discarded = staged.commit.version if slot == KEPT_FILE else discarded
        delta.create_checkpoint()  # before VACUUM's own commits: at the newest data commit, which stays
        files = self._files_on_disk(table)
        self._store._commit_with_retries(  # VACUUM's commits lost to another writer: planned again on its version
            table, {}, None, lambda current, props: self._vacuum(current, retention, keep, props)
        )
        deleted = files - self._files_on_disk(table)
        oldest = self._oldest_needed(table, retention, keep)
        checkpoints = [v for v in _checkpoints(root) if v <= oldest]
        if checkpoints:
            base = max(checkpoints)
            versions = {f.uri: _log_version(f.uri) for f in (root / "_delta_log").list_files(recursive=False)}
            old = [uri for uri, version in versions.items() if version is not None and version < base]
            root.delete_files(old)
            deleted += len(old)
        return Expiry(len(before) - len(self._store.history(table)), deleted, discarded)

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
        for slot in (STAGED_FILE, KEPT_FILE):
            staged = read_staged(root, slot)
            if staged is not None and staged.commit.timestamp_ms >= limit * 1000:  # a young candidate keeps its files
                referenced |= {file_path(root, a.path) for a in staged.added}
                referenced.add(root.fs_path(root.child_uri(slot)))
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
    def _vacuum(delta: DeltaTable, retention: timedelta, keep: Collection[int], props: CommitProperties) -> None:
        """VACUUM with `retention`, keeping the files of every kept version and of the versions after it."""
        current = delta.version()
        kept = list(range(min(keep), current + 1)) if keep and min(keep) < current else None
        delta.vacuum(
            retention_hours=_hours(retention),
            dry_run=False,
            enforce_retention_duration=False,
            commit_properties=props,
            keep_versions=kept,
        )


def _bins(files: list[dict[str, Any]], target_bytes: int) -> list[list[dict[str, Any]]]:
    """The files (flattened add actions) in groups to merge: of one partition each, adding up to about
    `target_bytes`, of two files or more (a file alone stays as it is)."""
    partitions: dict[str, list[dict[str, Any]]] = {}
    for f in files:
        partitions.setdefault(repr(sorted(_partition_values(f).items())), []).append(f)
    bins: list[list[dict[str, Any]]] = []
    for members in partitions.values():
        current: list[dict[str, Any]] = []
        for f in sorted(members, key=lambda f: str(f["path"])):
            if current and sum(m["size_bytes"] for m in current) + f["size_bytes"] > target_bytes:
                bins.append(current)
                current = []
            current.append(f)
        bins.append(current)
    return [b for b in bins if len(b) >= 2]


def _log_version(uri: str) -> int | None:
    """The version a `_delta_log` file belongs to (commit, checkpoint, checksum), None for others."""
    head = uri.rsplit("/", 1)[-1].split(".")[0]
    return int(head) if head.isdigit() and len(head) == 20 else None


def _checkpoints(root: Location) -> list[int]:
    """The versions the `_delta_log` holds a checkpoint of."""
    files = (root / "_delta_log").list_files(recursive=False)
    found = {_log_version(f.uri) for f in files if ".checkpoint" in f.uri.rsplit("/", 1)[-1]}
    return sorted(v for v in found if v is not None)
