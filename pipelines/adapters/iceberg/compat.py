"""Every use of pyiceberg's private API, in one place (tests/integration/test_iceberg_compat.py pins each).

pyiceberg is used through its public API everywhere else. Each use here says why it is needed
and which public API would replace it; an upgrade that changes one fails that test by name.
"""

from __future__ import annotations

from typing import Any

from pyiceberg.table import Table, Transaction
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update.snapshot import _SnapshotProducer


class CachedTransaction(Transaction):
    """`Transaction` with `table_metadata` cached on the identity of its two inputs.

    `Transaction.table_metadata` replays the staged updates and deep-copies the whole metadata,
    snapshot list included, on every read, and a snapshot producer reads it dozens of times per
    commit (apache/iceberg-python#2673). `_updates` (private) is a tuple rebound on every staged
    update and `Table.metadata` is replaced after a commit, so an identity check invalidates the
    cache without hooks at the mutation sites.
    Public replacement: pyiceberg's own cache (apache/iceberg-python#3302/#3784), once released.
    """

    def __init__(self, table: Table, autocommit: bool = False) -> None:
        super().__init__(table, autocommit)
        self._cached: tuple[object, object, TableMetadata] | None = None

    @property
    def table_metadata(self) -> TableMetadata:
        base, updates = self._table.metadata, self._updates
        if self._cached is None or self._cached[0] is not base or self._cached[1] is not updates:
            self._cached = (base, updates, super().table_metadata)
        return self._cached[2]


class SingleAttemptTransaction(CachedTransaction):
    """A transaction whose commit is tried once: a concurrent commit raises `CommitFailedException`.

    pyiceberg (0.12) retries a failed commit by re-running the snapshot producers on the new table
    state (`commit.retry.num-retries`, default 4): an append is then committed again on top of the
    winner's, whatever it held, and two writers of the same source positions both land their rows.
    The table stores retry themselves (`commit_with_retries`), asking the writer's `CommitCheck`
    first. A producer not registered with the transaction (`_register_snapshot_producer`, private)
    is not retried; its manifests of a failed attempt are removed by `discard`.
    Public replacement: a per-transaction retry setting (only the table property exists).
    """

    def __init__(self, table: Table) -> None:
        super().__init__(table, autocommit=False)
        self._attempted: list[_SnapshotProducer[Any]] = []

    def _register_snapshot_producer(self, producer: _SnapshotProducer[Any]) -> None:
        self._attempted.append(producer)

    def discard(self) -> None:
        """Remove the manifests and manifest lists the failed commit wrote (`_clean_all_uncommitted`, private).

        Public replacement: none (pyiceberg calls it itself when its own retries give up).
        """
        for producer in self._attempted:
            producer._clean_all_uncommitted()
        self._attempted.clear()
