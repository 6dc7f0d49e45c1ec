"""Candidate versions of Delta tables: staged commits (`staged_commits`), published by committing their actions.

A staged write leaves the log as it was, so every Delta reader keeps reading the current version.
The candidate is the current version's files less those the staged commit removes, plus those it
adds. Publishing commits those actions through the store's commit loop, on the version they were staged
on only (a `CommitCheck` refusing every newer commit), so a candidate overtaken by another commit
is never published on top of it. A refused candidate stays staged, with its failing
checks, until a later staged write replaces it or `discard` removes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from pipelines.adapters.delta.incremental import read_files
from pipelines.adapters.delta.staged_commits import StagedCommit, read_staged, stage, unstage
from pipelines.adapters.delta.table_store import DeltaTableStore
from pipelines.core.commits import Commit
from pipelines.core.names import TableId
from pipelines.ports.candidates import Candidate
from pipelines.ports.commit_check import CommitCheck, refuse_all
from pipelines.ports.commit_observers import reports_commits


class DeltaCandidates:
    """`CandidateTables` over the tables of a `DeltaTableStore`."""

    def __init__(self, store: DeltaTableStore) -> None:
        self._store = store

    def staging(self) -> DeltaTableStore:
        return self._store.staged()

    def candidate(self, table: TableId, version: int) -> Candidate:
        staged = self._staged(table, version)
        return Candidate(table, staged.commit, staged.base, staged.failing or ())

    def read_candidate(self, table: TableId, version: int, columns: Sequence[str] | None = None) -> pa.Table:
        staged = self._staged(table, version)
        delta, root = self._store._open(table), self._store._path(table)  # same adapter package
        delta.load_as_version(staged.base)
        schema = self._store._schema(delta)
        current = pa.table(delta.get_add_actions(flatten=True)).to_pylist()
        files: list[tuple[str, dict[str, str | None]]] = [(f["path"], {}) for f in current
                                                          if f["path"] not in staged.removed]  # fmt: skip
        files += [(a.path, dict(a.partition_values)) for a in staged.added]
        rows = read_files(root, files, schema)
        return rows if columns is None else rows.select(list(columns))

    @reports_commits
    def publish(self, table: TableId, version: int) -> Commit:
        """Commit the staged actions on the version they were staged on, then forget the staged commit.

        Raises:
            LookupError: no such candidate.
            ConcurrentCommitError: another commit took the version after the candidate's base.
        """
        staged = self._staged(table, version)
        check = CommitCheck(staged.base, refuse_all)  # only on the version it was staged on
        commit = self._store._commit_actions(table, staged.actions, dict(staged.commit.properties), check)
        unstage(self._store._path(table), published=True)
        return commit

    def keep(self, table: TableId, version: int, failing: Sequence[str] = ()) -> None:
        staged = self._staged(table, version)
        stage(self._store._path(table), StagedCommit(staged.base, staged.commit, staged.actions, tuple(failing)))

    def kept(self, table: TableId) -> Candidate | None:
        staged = read_staged(self._store._path(table))
        if staged is None or staged.failing is None:
            return None
        return Candidate(table, staged.commit, staged.base, staged.failing)

    def discard(self, table: TableId) -> None:
        unstage(self._store._path(table), published=False)

    def _staged(self, table: TableId, version: int) -> StagedCommit:
        staged = read_staged(self._store._path(table))
        if staged is None or staged.commit.version != version:
            raise LookupError(f"{table} has no candidate version {version}")
        return staged
