"""Candidate versions of memory tables: rows held beside the table's snapshots until published (for tests and fakes)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from pipelines.adapters.memory.table_store import MemoryTableStore, _Staged
from pipelines.core.commits import Commit
from pipelines.core.names import TableId
from pipelines.ports.candidates import Candidate
from pipelines.ports.commit_check import ConcurrentCommitError, commits_since
from pipelines.ports.commit_observers import reports_commits


class MemoryCandidates:
    """`CandidateTables` over the tables of a `MemoryTableStore`: a staged write keeps its snapshot aside."""

    def __init__(self, store: MemoryTableStore) -> None:
        self._store = store

    def staging(self) -> MemoryTableStore:
        return self._store.staged()

    def candidate(self, table: TableId, version: int) -> Candidate:
        staged = self._staged(table, version)
        return Candidate(table, staged.commit, staged.base, staged.failing)

    def read_candidate(self, table: TableId, version: int, columns: Sequence[str] | None = None) -> pa.Table:
        rows = self._staged(table, version).rows
        return rows if columns is None else rows.select(list(columns))

    @reports_commits
    def publish(self, table: TableId, version: int) -> Commit:
        """Append the candidate's snapshot and commit to the table's, if it is still on its base; drop the kept one.

        Raises:
            LookupError: no such candidate.
            ConcurrentCommitError: another commit took the version after the candidate's base.
        """
        state = self._store._get(table)  # same adapter package
        with self._store._lock:
            staged = self._staged(table, version)
            current = state.commits[-1].version if state.commits else None
            if current != staged.base:
                raise ConcurrentCommitError(table, commits_since(state.commits, staged.base))
            state.commits.append(staged.commit)
            state.snapshots.append(staged.rows)
            del state.staged[version]
            if state.kept is not None:
                del state.staged[state.kept]
                state.kept = None
        return staged.commit

    def keep(self, table: TableId, version: int, failing: Sequence[str] = ()) -> None:
        state = self._store._get(table)
        with self._store._lock:
            staged = self._staged(table, version)
            if state.kept is not None and state.kept != version:
                del state.staged[state.kept]
            staged.failing, state.kept = tuple(failing), version

    def kept(self, table: TableId) -> Candidate | None:
        version = self._store._get(table).kept
        return None if version is None else self.candidate(table, version)

    def discard(self, table: TableId) -> None:
        state = self._store._get(table)
        with self._store._lock:
            if state.kept is not None:
                del state.staged[state.kept]
                state.kept = None

    def _staged(self, table: TableId, version: int) -> _Staged:
        try:
            return self._store._get(table).staged[version]
        except KeyError:
            raise LookupError(f"{table} has no candidate version {version}") from None
