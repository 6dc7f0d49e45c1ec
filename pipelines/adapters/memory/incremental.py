"""Incremental capabilities of memory tables, through the store's own versions (for tests and fakes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from pipelines.adapters.memory.table_store import MemoryTableStore
from pipelines.core.names import TableId
from pipelines.ports.commit_check import CommitCheck
from pipelines.ports.commit_observers import reports_commits
from pipelines.ports.incremental import (
    Appended,
    Changed,
    Ranged,
    Ranges,
    Replacement,
    Rewrite,
    in_ranges,
    key_set,
    plan_rewrite,
)


class MemoryIncremental:
    """The incremental capabilities over a `MemoryTableStore`: a table is one "file" per commit."""

    def __init__(self, store: MemoryTableStore) -> None:
        self._store = store

    @property
    def writes_candidates(self) -> bool:
        """Whether the store's commits make candidates, as `reports_commits` tells observers."""
        return self._store.writes_candidates

    def read_appended(self, table: TableId, after: int | None, columns: Sequence[str] | None = None) -> Appended:
        """The rows added after version `after`, when the table only grew since (see `AppendReader`)."""
        history = self._store.history(table)
        if not history:
            return Appended(self._store.read(table, columns), None, 0, after is None)
        version = history[-1].version
        current = self._store.read(table, columns)
        if after is None:
            return Appended(current, version, current.num_rows, True, "first run")
        if after not in {c.version for c in history}:
            return Appended(current, version, current.num_rows, False, f"version {after} of {table} is gone")
        before = self._store.read(table, columns, as_of=after)
        if current.num_rows < before.num_rows or not current.slice(0, before.num_rows).equals(before):
            return Appended(current, version, current.num_rows, False, f"rows of {table} were rewritten")
        added = current.slice(before.num_rows)
        return Appended(added, version, added.num_rows, True)

    def read_changed(self, table: TableId, after: int, columns: Sequence[str] | None = None) -> Changed:
        """The table at `after` as removed and now as added: one "file" rewritten (see `ChangeReader`)."""
        history = self._store.history(table)
        current = self._store.read(table, columns)
        if after not in {c.version for c in history}:
            empty = current.slice(0, 0)
            return Changed(empty, empty, None, 0, False, f"version {after} of {table} is gone")
        version = history[-1].version
        if version == after:
            return Changed(current.slice(0, 0), current.slice(0, 0), version, 0)
        before = self._store.read(table, columns, as_of=after)
        return Changed(before, current, version, before.num_rows + current.num_rows)

    def read_ranges(self, table: TableId, column: str, ranges: Ranges) -> Ranged:
        """Every row read, those in `ranges` kept (see `ChangeReader`)."""
        data = self._store.read(table)
        return Ranged(in_ranges(data, column, ranges), data.num_rows)

    @reports_commits
    def replace_keys(
        self,
        table: TableId,
        key: str,
        keys: pa.Array | None,
        replacement: Replacement,
        properties: Mapping[str, str] | None = None,
        *,
        merge_on_read: bool = False,
        check: CommitCheck | None = None,
    ) -> Rewrite:
        """Replace the rows of `keys` by rewriting the whole table in one commit (see `KeyedRewriter`)."""
        schema = self._store.schema(table)
        if key not in schema.names:
            raise ValueError(f"{table} has no key column {key!r}")
        wanted = None if keys is None else key_set(keys, schema.field(key).type)
        plan = plan_rewrite(table, schema, key, wanted, [self._store.read(table)], replacement)
        rows = pa.concat_tables([*plan.rewritten, *plan.inserted])
        commit = self._store._commit(table, rows, properties, replace=True, check=check)
        return Rewrite(commit, 1, int(plan.rows_replaced > 0), 1, plan.rows_replaced, rows.num_rows, rows.num_rows,
                       rows_updated=plan.rows_updated)  # fmt: skip
