"""Incremental capabilities of memory tables, through the store's own versions (for tests and fakes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.adapters.memory.table_store import MemoryTableStore
from pipelines.core.names import TableId
from pipelines.ports.incremental import Appended, Replacement, Rewrite, key_set
from pipelines.ports.table_store import conform_to_schema


class MemoryIncremental:
    """`AppendReader` and `KeyedRewriter` over a `MemoryTableStore`: a table is one "file" per commit."""

    def __init__(self, store: MemoryTableStore) -> None:
        self._store = store

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

    def replace_keys(
        self,
        table: TableId,
        key: str,
        keys: pa.Array,
        replacement: Replacement,
        properties: Mapping[str, str] | None = None,
    ) -> Rewrite:
        """Replace the rows of `keys` by rewriting the whole table in one commit (see `KeyedRewriter`)."""
        schema = self._store.schema(table)
        if key not in schema.names:
            raise ValueError(f"{table} has no key column {key!r}")
        wanted = key_set(keys, schema.field(key).type)
        current = self._store.read(table)
        mask = pc.is_in(current.column(key), value_set=wanted)
        matched, kept = current.filter(mask), current.filter(pc.invert(mask))
        new = conform_to_schema(table, replacement(matched), schema)
        if stray := pc.sum(pc.invert(pc.is_in(new.column(key), value_set=wanted))).as_py():
            raise ValueError(f"{table}: the replacement holds {stray} row(s) whose {key} was not being replaced")
        rows = pa.concat_tables([kept, new]).sort_by(key)
        commit = self._store.overwrite(table, rows, properties)
        touched = int(matched.num_rows > 0)
        return Rewrite(commit, 1, touched, 1, matched.num_rows, rows.num_rows)
