"""Candidate versions of Delta tables: staged commits (`staged_commits`), published by committing their actions.

A staged write leaves the log as it was, so every Delta reader keeps reading the current version.
The candidate is the current version's files less those the staged commit removes, plus those it
adds. Publishing commits those actions through the store's commit loop, on the version they were staged
on only (a `CommitCheck` refusing every newer commit), so a candidate overtaken by another commit
is never published on top of it. A refused candidate moves to its own file (`KEPT_FILE`) with its
failing checks, and stays there until a later candidate is refused or published, or `discard`
removes it: a later build that stages its candidate and dies before its audit leaves it as it was.
When that later candidate has the kept one's version (both staged on the same log version), reading
or publishing that version means the later one.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from pipelines.adapters.delta.incremental import read_files
from pipelines.adapters.delta.staged_commits import KEPT_FILE, STAGED_FILE, StagedCommit, read_staged, stage, unstage
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
        _, staged = self._staged(table, version)
        return Candidate(table, staged.commit, staged.base, staged.failing or ())

    def read_candidate(self, table: TableId, version: int, columns: Sequence[str] | None = None) -> pa.Table:
        _, staged = self._staged(table, version)
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
        slot, staged = self._staged(table, version)
        check = CommitCheck(staged.base, refuse_all)  # only on the version it was staged on
        commit = self._store._commit_actions(table, staged.actions, dict(staged.commit.properties), check)
        root = self._store._path(table)
        unstage(root, published=True, slot=slot)
        unstage(root, published=False, slot=KEPT_FILE)  # no-op when the kept one was just published
        return commit

    def keep(self, table: TableId, version: int, failing: Sequence[str] = ()) -> None:
        slot, staged = self._staged(table, version)
        root = self._store._path(table)
        stage(root, StagedCommit(staged.base, staged.commit, staged.actions, tuple(failing)), KEPT_FILE)
        if slot == STAGED_FILE:
            unstage(root, published=True)  # its files are the kept one's now

    def kept(self, table: TableId) -> Candidate | None:
        staged = read_staged(self._store._path(table), KEPT_FILE)
        return None if staged is None else Candidate(table, staged.commit, staged.base, staged.failing or ())

    def discard(self, table: TableId) -> None:
        unstage(self._store._path(table), published=False, slot=KEPT_FILE)

    def _staged(self, table: TableId, version: int) -> tuple[str, StagedCommit]:
        """The candidate `version` and its file: the latest staged write's, else the kept one's."""
        root = self._store._path(table)
        for slot in (STAGED_FILE, KEPT_FILE):
            staged = read_staged(root, slot)
            if staged is not None and staged.commit.version == version:
                return slot, staged
        raise LookupError(f"{table} has no candidate version {version}")
