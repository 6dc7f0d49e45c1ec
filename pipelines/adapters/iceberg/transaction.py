"""pyiceberg transactions, the Iceberg store's commit loop, and snapshot producers whose cost does not grow
with the table's history.

Two costs of pyiceberg commits grow with every commit a table has seen:
- `Transaction.table_metadata` replays the staged updates and deep-copies the whole metadata,
  snapshot list included, on every read, and a snapshot producer reads it dozens of times per
  commit (apache/iceberg-python#2673; `compat.CachedTransaction` caches it).
- every fast append or overwrite adds a manifest and pyiceberg merges none unless the table asks
  for it, so planning a scan (and finding the files an overwrite deletes) reads one manifest per
  past commit. The producers used here (`compat`) merge the manifests once there are
  `compat.MERGE_MANIFESTS_AT`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import Operation

from pipelines.adapters.iceberg.compat import (
    CachedTransaction,
    MergingAppend,
    MergingOverwrite,
    RowLevelOverwrite,
    SingleAttemptTransaction,
    SnapshotProducer,
    table_of,
)
from pipelines.adapters.iceberg.data_files import IcebergDataFiles
from pipelines.core.commits import Commit
from pipelines.core.names import TableId
from pipelines.logs import table_event
from pipelines.ports.commit_check import (
    MAX_COMMIT_ATTEMPTS,
    CommitCheck,
    ConcurrentCommitError,
    commits_since,
    pause_after_lost_race,
)

_log = logging.getLogger(__name__)


def commit_with_retries(
    table: TableId,
    load: Callable[[], Table],
    history: Callable[[Table], list[Commit]],
    check: CommitCheck | None,
    stage: Callable[[CachedTransaction], None],
    branch: str | None = MAIN_BRANCH,
) -> Table:
    """Commit what `stage` puts in a transaction on the table's newest state, again on each lost race.

    The one commit loop of the Iceberg store: the table is loaded, `check` (if any) shown the
    commits made since its `seen`, `stage` run on a fresh transaction, and the commit tried once
    (`SingleAttemptTransaction`: the snapshot is asserted to follow the loaded one). A commit that
    lost a race removes its manifests and starts over; `stage` must be safe to call again (adding
    the same data files). The snapshot goes to `branch` (None: staged, see `CachedTransaction`).

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
        tx = SingleAttemptTransaction(ice, branch)
        try:
            with tx:
                stage(tx)
        except CommitFailedException:
            tx.discard()
            if attempt == MAX_COMMIT_ATTEMPTS:
                raise
            planned_on = ice.current_snapshot()  # the version the lost attempt followed
            version = planned_on.snapshot_id if planned_on else None
            table_event(_log, "retry", None, table, version, attempt=attempt + 1, reason="another commit came first")
            pause_after_lost_race(attempt)
            continue
        return ice
    raise AssertionError("unreachable")  # pragma: no cover


def row_changes(
    tx: CachedTransaction,
    properties: dict[str, str],
    position_deletes: Sequence[DataFile] = (),
    drop_position_deletes: bool = False,
) -> RowLevelOverwrite:
    """A snapshot producer (an overwrite) deleting data files, adding data files and `position_deletes`,
    and, with `drop_position_deletes`, removing the position-delete files the table had."""
    return RowLevelOverwrite(tx, properties, position_deletes, drop_position_deletes)


def file_changes(tx: CachedTransaction, properties: dict[str, str], deletes: bool) -> SnapshotProducer:
    """A snapshot producer adding (and, when `deletes`, deleting) data files, merging manifests.

    Use as `with file_changes(tx, props, deletes) as producer:`; the snapshot is an append, or an
    overwrite when it deletes files of an existing snapshot; it goes to the transaction's branch.
    """
    io = table_of(tx).io
    if not deletes:
        return MergingAppend(Operation.APPEND, tx, io, snapshot_properties=properties, branch=tx.branch)
    operation = Operation.OVERWRITE if tx.table_metadata.current_snapshot() is not None else Operation.APPEND
    return MergingOverwrite(operation, tx, io, snapshot_properties=properties, branch=tx.branch)


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
