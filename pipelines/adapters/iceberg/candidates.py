"""Candidate versions of Iceberg tables: staged snapshots, published by moving `main` to them.

A staged write (`IcebergTableStore.staged`) adds a snapshot whose parent is the current one and
moves no branch: every reader of the table (pyiceberg, DuckDB, the REST catalog's clients) still
reads `main`. Publishing points `main` at the candidate in one metadata commit asserting `main` is
still its parent, which also appends it to the snapshot log (`history()`). A refused candidate is
kept under the branch `meshlake-candidate` (readable by any engine by that name), its failing checks
in a table property, until a later publish removes the branch or `discard` removes it and the
snapshot; an unreferenced staged snapshot (a writer killed before publishing, a candidate kept
before the last) is expired like any old snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pyarrow as pa
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.update.snapshot import ExpireSnapshots, ManageSnapshots

from pipelines.adapters.iceberg.compat import CachedTransaction, table_of
from pipelines.adapters.iceberg.table_store import IcebergTableStore, _commit, _history
from pipelines.adapters.iceberg.transaction import commit_with_retries
from pipelines.core.commits import Commit
from pipelines.core.names import TableId
from pipelines.ports.candidates import Candidate
from pipelines.ports.commit_check import CommitCheck, refuse_all
from pipelines.ports.commit_observers import reports_commits

CANDIDATE_BRANCH = "meshlake-candidate"
"""The branch a refused candidate is kept under for inspection."""
FAILING_PROPERTY = "meshlake.candidate.failing"
"""Table property: the failing checks of the kept candidate, a JSON list."""


class IcebergCandidates:
    """`CandidateTables` over the tables of an `IcebergTableStore`."""

    def __init__(self, store: IcebergTableStore) -> None:
        self._store = store

    def staging(self) -> IcebergTableStore:
        return self._store.staged()

    def candidate(self, table: TableId, version: int) -> Candidate:
        ice = self._store._load(table)  # same adapter package: the store's loader and its errors
        return self._candidate(ice, table, self._staged(ice, table, version))

    def read_candidate(self, table: TableId, version: int, columns: Sequence[str] | None = None) -> pa.Table:
        self._staged(self._store._load(table), table, version)
        return self._store.read(table, columns, as_of=version)

    @reports_commits
    def publish(self, table: TableId, version: int) -> Commit:
        """Point `main` at the candidate (and drop a kept one) in one commit asserting `main` is its parent.

        Raises:
            LookupError: no such candidate.
            ConcurrentCommitError: `main` moved since the candidate was written.
            CommitFailedException: `MAX_COMMIT_ATTEMPTS` races with other metadata commits were lost.
        """
        parent = self._staged(self._store._load(table), table, version).parent_snapshot_id

        def stage(tx: CachedTransaction) -> None:
            ice = table_of(tx)
            self._staged(ice, table, version)
            with ManageSnapshots(tx) as manage:
                if CANDIDATE_BRANCH in ice.metadata.refs:
                    manage.remove_branch(CANDIDATE_BRANCH)
                manage.set_current_snapshot(snapshot_id=version)  # asserts `main` is as loaded
            if FAILING_PROPERTY in ice.properties:
                tx.remove_properties(FAILING_PROPERTY)

        published = self._commit(table, stage, CommitCheck(parent, refuse_all))
        return _history(published)[-1]

    def keep(self, table: TableId, version: int, failing: Sequence[str] = ()) -> None:
        def stage(tx: CachedTransaction) -> None:
            self._staged(table_of(tx), table, version)
            with ManageSnapshots(tx) as manage:
                manage.create_branch(version, CANDIDATE_BRANCH)  # replaces the branch if there was one
            tx.set_properties({FAILING_PROPERTY: json.dumps(list(failing))})

        self._commit(table, stage)

    def kept(self, table: TableId) -> Candidate | None:
        ice = self._store._load(table)
        snapshot = ice.metadata.snapshot_by_name(CANDIDATE_BRANCH)
        return self._candidate(ice, table, snapshot) if snapshot is not None else None

    def discard(self, table: TableId) -> None:
        """Remove the branch of the kept candidate, then its snapshot (its files go with the next orphan removal)."""
        kept: list[int] = []

        def unbranch(tx: CachedTransaction) -> None:
            ref = table_of(tx).metadata.refs.get(CANDIDATE_BRANCH)
            kept[:] = [ref.snapshot_id] if ref is not None else []
            if ref is None:
                return
            with ManageSnapshots(tx) as manage:
                manage.remove_branch(CANDIDATE_BRANCH)
            tx.remove_properties(FAILING_PROPERTY)

        def expire(tx: CachedTransaction) -> None:
            ice = table_of(tx)
            heads = {ref.snapshot_id for ref in ice.metadata.refs.values()}
            if ice.snapshot_by_id(snapshot := kept[0]) is None or snapshot in heads:
                return  # expired by another run, or published or kept again since
            with ExpireSnapshots(tx) as expiry:
                expiry.by_id(snapshot)

        self._commit(table, unbranch)
        if kept:
            self._commit(table, expire)

    def _commit(
        self, table: TableId, stage: Callable[[CachedTransaction], None], check: CommitCheck | None = None
    ) -> Table:
        """Commit what `stage` puts in a transaction through the store's commit loop (`commit_with_retries`)."""
        return commit_with_retries(table, lambda: self._store._load(table), _history, check, stage)

    @staticmethod
    def _staged(ice: Table, table: TableId, version: int) -> Snapshot:
        """Snapshot `version`, if it is a candidate: in the metadata, never current (not in the snapshot log)."""
        snapshot = ice.snapshot_by_id(version)
        if snapshot is None or version in {entry.snapshot_id for entry in ice.metadata.snapshot_log}:
            raise LookupError(f"{table} has no candidate version {version}")
        return snapshot

    @staticmethod
    def _candidate(ice: Table, table: TableId, snapshot: Snapshot) -> Candidate:
        kept = ice.metadata.refs.get(CANDIDATE_BRANCH)
        failing = ice.properties.get(FAILING_PROPERTY) if kept and kept.snapshot_id == snapshot.snapshot_id else None
        commit = _commit(snapshot, len(ice.metadata.snapshot_log) + 1)
        return Candidate(table, commit, snapshot.parent_snapshot_id, tuple(json.loads(failing or "[]")))
