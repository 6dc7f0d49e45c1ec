"""pyiceberg transactions, the Iceberg store's commit loop, and snapshot producers whose cost does not grow
with the table's history.

Two costs of pyiceberg commits grow with every commit a table has seen:
- `Transaction.table_metadata` replays the staged updates and deep-copies the whole metadata,
  snapshot list included, on every read, and a snapshot producer reads it dozens of times per
  commit (apache/iceberg-python#2673; `compat.CachedTransaction` caches it).
- every fast append or overwrite adds a manifest and pyiceberg merges none unless the table asks
  for it, so planning a scan (and finding the files an overwrite deletes) reads one manifest per
  past commit. The producers here merge the manifests once there are `MERGE_MANIFESTS_AT`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.manifest import (
    DataFile,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestWriterV2,
)
from pyiceberg.table import Table, Transaction
from pyiceberg.table.snapshots import Operation, Summary
from pyiceberg.table.update.snapshot import _FastAppendFiles, _ManifestMergeManager, _OverwriteFiles
from pyiceberg.typedef import EMPTY_DICT

from pipelines.adapters.iceberg.compat import CachedTransaction, SingleAttemptTransaction
from pipelines.adapters.iceberg.data_files import IcebergDataFiles
from pipelines.core.commits import Commit
from pipelines.core.names import TableId
from pipelines.ports.commit_check import MAX_COMMIT_ATTEMPTS, CommitCheck, ConcurrentCommitError, commits_since

MERGE_MANIFESTS_AT = 8
"""Manifests a commit leaves as they are; at this many, it merges them into one (amortised O(1) per commit)."""
_MANIFEST_TARGET_BYTES = 8 * 1024 * 1024


def transaction(table: Table) -> CachedTransaction:
    """A transaction on `table` (use as `with transaction(ice) as tx:`), committed on exit."""
    return CachedTransaction(table)


def commit_with_retries(
    table: TableId,
    load: Callable[[], Table],
    history: Callable[[Table], list[Commit]],
    check: CommitCheck | None,
    stage: Callable[[Transaction], None],
) -> Table:
    """Commit what `stage` puts in a transaction on the table's newest state, again on each lost race.

    The one commit loop of the Iceberg store: the table is loaded, `check` (if any) shown the
    commits made since its `seen`, `stage` run on a fresh transaction, and the commit tried once
    (`SingleAttemptTransaction`: the snapshot is asserted to follow the loaded one). A commit that
    lost a race removes its manifests and starts over; `stage` must be safe to call again (adding
    the same data files).

    Returns:
        The table after the commit.

    Raises:
        ConcurrentCommitError: `check` refused the commits of another writer; nothing was committed.
        CommitFailedException: `MAX_COMMIT_ATTEMPTS` races were lost.
    """
    for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
        ice = load()
        if check is not None and not check.allows(commits := history(ice)):
            raise ConcurrentCommitError(table, commits_since(commits, check.seen))
        tx = SingleAttemptTransaction(ice)
        try:
            with tx:
                stage(tx)
        except CommitFailedException:
            tx.discard()
            if attempt == MAX_COMMIT_ATTEMPTS:
                raise
            time.sleep(random.uniform(0, 0.01 * attempt))  # two losers do not meet again at once
            continue
        return ice
    raise AssertionError("unreachable")  # pragma: no cover


def _merged(producer: _FastAppendFiles | _OverwriteFiles, manifests: list[ManifestFile]) -> list[ManifestFile]:
    data = [m for m in manifests if m.content == ManifestContent.DATA]
    deletes = [m for m in manifests if m.content == ManifestContent.DELETES]
    merger: _ManifestMergeManager[Any] = _ManifestMergeManager(
        _MANIFEST_TARGET_BYTES, MERGE_MANIFESTS_AT, True, producer
    )
    return merger.merge_manifests(data) + deletes


class _MergingAppend(_FastAppendFiles):
    def _process_manifests(self, manifests: list[ManifestFile]) -> list[ManifestFile]:
        return _merged(self, manifests)


class _MergingOverwrite(_OverwriteFiles):
    def _process_manifests(self, manifests: list[ManifestFile]) -> list[ManifestFile]:
        return _merged(self, manifests)


class _DeleteManifestWriter(ManifestWriterV2):
    """A manifest of delete files (pyiceberg 0.12 writes data manifests only)."""

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


class RowLevelOverwrite(_MergingOverwrite):
    """An overwrite that also adds position-delete files, or drops every one the table has (`row_changes`).

    Dropping them is right only when every live data file they refer to is rewritten by the same
    commit (compaction applying them). An overwrite that removes no data file leaves every manifest
    as it is, unread, as an append does.
    """

    def __init__(
        self,
        tx: Transaction,
        properties: dict[str, str],
        position_deletes: Sequence[DataFile],
        drop_position_deletes: bool,
    ) -> None:
        super().__init__(Operation.OVERWRITE, tx, tx._table.io, snapshot_properties=properties)
        self._position_deletes = list(position_deletes)
        self._drop_position_deletes = drop_position_deletes
        self._dropped: list[DataFile] = []

    def _existing_manifests(self) -> list[ManifestFile]:
        if self._deleted_data_files:
            return super()._existing_manifests()
        return _FastAppendFiles._existing_manifests(self)  # type: ignore[arg-type]

    def _deleted_entries(self) -> list[ManifestEntry]:
        return super()._deleted_entries() if self._deleted_data_files else []

    def _manifests(self) -> list[ManifestFile]:
        manifests = super()._manifests()
        if self._drop_position_deletes:
            for manifest in [m for m in manifests if m.content == ManifestContent.DELETES]:
                entries = manifest.fetch_manifest_entry(self._io, discard_deleted=True)
                self._dropped += [e.data_file for e in entries]
            manifests = [m for m in manifests if m.content == ManifestContent.DATA]
        if self._position_deletes:
            writer = _DeleteManifestWriter(
                self._transaction.table_metadata.spec(), self.schema(), self.new_manifest_output(),
                self._snapshot_id, self._compression,
            )  # fmt: skip
            with writer:
                for delete_file in self._position_deletes:
                    entry = ManifestEntry.from_args(
                        status=ManifestEntryStatus.ADDED, snapshot_id=self._snapshot_id, data_file=delete_file
                    )
                    writer.add(entry)
            manifests.append(writer.to_manifest_file())
        return manifests

    def _summary(self, snapshot_properties: dict[str, str] = EMPTY_DICT) -> Summary:
        # pyiceberg's summary counts the files in these two collections by their content (data or
        # deletes); the delete files join them only while it counts, never the data manifests
        added, deleted = self._added_data_files, self._deleted_data_files
        self._added_data_files = [*added, *self._position_deletes]
        self._deleted_data_files = {*deleted, *self._dropped}
        try:
            return super()._summary(snapshot_properties)
        finally:
            self._added_data_files, self._deleted_data_files = added, deleted


def row_changes(
    tx: Transaction,
    properties: dict[str, str],
    position_deletes: Sequence[DataFile] = (),
    drop_position_deletes: bool = False,
) -> RowLevelOverwrite:
    """A snapshot producer (an overwrite) deleting data files, adding data files and `position_deletes`,
    and, with `drop_position_deletes`, removing the position-delete files the table had."""
    return RowLevelOverwrite(tx, properties, position_deletes, drop_position_deletes)


def file_changes(tx: Transaction, properties: dict[str, str], deletes: bool) -> _FastAppendFiles | _OverwriteFiles:
    """A snapshot producer adding (and, when `deletes`, deleting) data files, merging manifests.

    Use as `with file_changes(tx, props, deletes) as producer:`; the snapshot is an append, or an
    overwrite when it deletes files of an existing snapshot.
    """
    io = tx._table.io
    if not deletes:
        return _MergingAppend(Operation.APPEND, tx, io, snapshot_properties=properties)
    operation = Operation.OVERWRITE if tx.table_metadata.current_snapshot() is not None else Operation.APPEND
    return _MergingOverwrite(operation, tx, io, snapshot_properties=properties)


def add_rows(tx: Transaction, producer: _FastAppendFiles | _OverwriteFiles, rows: pa.Table) -> None:
    """Write `rows` (in the table's schema) as data files and add them to the snapshot `producer` makes.

    Files a failed write left are removed (the snapshot is then never made).
    """
    for data_file in write_rows(tx._table, rows):
        producer.append_data_file(data_file)


def write_rows(table: Table, rows: pa.Table) -> list[DataFile]:
    """`rows` (in the table's schema) as data files of `table`, not yet committed (`IcebergDataFiles.write`);
    on an error, the files written so far are removed."""
    if not rows.num_rows:
        return []
    files = IcebergDataFiles(table)
    try:
        return files.write(rows)
    except BaseException:
        files.remove()
        raise
