"""MemoryTableStore: tables as lists of Arrow snapshots, with the same semantics as Iceberg and Delta."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.commits import Commit, TableFormat
from pipelines.core.names import TableId
from pipelines.ports.commit_check import CommitCheck, ConcurrentCommitError, commits_since
from pipelines.ports.commit_observers import reports_commits
from pipelines.ports.table_evolution import (
    SchemaChange,
    align_to_schema,
    check_key_columns,
    matching_rows,
    plan_evolution,
)
from pipelines.ports.table_store import (
    Batch,
    PartitionField,
    TableNotFoundError,
    batch_rows,
    check_partitioning,
    check_properties,
    conform_to_schema,
    table_schema,
    write_behind,
)


@dataclass
class _Staged:
    """A candidate version (see `MemoryCandidates`): its commit, the version it was written on, its rows."""

    commit: Commit
    base: int | None
    rows: pa.Table
    failing: tuple[str, ...] = ()


@dataclass
class _Table:
    schema: pa.Schema
    partition_by: tuple[PartitionField, ...]
    commits: list[Commit] = field(default_factory=list)
    snapshots: list[pa.Table] = field(default_factory=list)
    staged: dict[int, _Staged] = field(default_factory=dict)
    """Candidates by version, written through `MemoryTableStore.staged()`."""
    kept: int | None = None
    """The version of the candidate kept for inspection."""
    last_version: int = 0
    """The highest version given so far, to a commit or a candidate (versions are never reused)."""

    def current(self) -> pa.Table:
        return self.snapshots[-1] if self.snapshots else self.schema.empty_table()


class MemoryTableStore:
    """Tables held in this process: every commit keeps a full snapshot, so time travel works.

    Versions are 1, 2, 3, ... per table, given to commits and candidates alike. Nothing is persisted:
    a new store starts empty. Partitioning is validated and remembered but does not change how rows
    are kept.
    """

    def __init__(self) -> None:
        self._tables: dict[TableId, _Table] = {}
        self._lock = threading.Lock()
        self._staging = False

    @property
    def writes_candidates(self) -> bool:
        """Whether this store's commits make candidates (`staged`), as `reports_commits` tells observers."""
        return self._staging

    def staged(self) -> MemoryTableStore:
        """The same tables, whose data commits make candidates (`MemoryCandidates`) instead of current versions."""
        staged = copy.copy(self)
        staged._staging = True
        return staged

    @property
    def format(self) -> TableFormat:
        return TableFormat.MEMORY

    def exists(self, table: TableId) -> bool:
        return table in self._tables

    def drop_table(self, table: TableId) -> None:
        with self._lock:
            self._tables.pop(table, None)

    def ensure_table(self, table: TableId, schema: pa.Schema, partition_by: Sequence[PartitionField] = ()) -> None:
        """Create the table if it does not exist; an existing table is left as it is.

        Raises:
            ValueError: the schema has duplicate columns or the partitioning does not fit it.
        """
        with self._lock:
            if table in self._tables:
                return
            stored = table_schema(schema)
            check_partitioning(table, stored, partition_by)
            self._tables[table] = _Table(stored, tuple(partition_by))

    def schema(self, table: TableId) -> pa.Schema:
        return self._get(table).schema

    @reports_commits
    def append(
        self,
        table: TableId,
        data: pa.Table,
        properties: Mapping[str, str] | None = None,
        check: CommitCheck | None = None,
    ) -> Commit:
        """Append rows in one commit that also stores `properties`; returns that commit.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: the data or the properties do not fit; the table is left as it was.
            ConcurrentCommitError: `check` refused the commits made since it was planned.
        """
        return self._commit(table, data, properties, replace=False, check=check)

    @reports_commits
    def append_batches(
        self,
        table: TableId,
        batches: Iterable[Batch],
        properties: Callable[[], Mapping[str, str]],
        check: CommitCheck | None = None,
    ) -> Commit:
        """Append the rows of every batch in one commit; `properties()` is called after the last batch.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: a batch or the properties do not fit; the table is left as it was.
            ConcurrentCommitError: `check` refused the commits made since it was planned.
        """
        state = self._get(table)
        parts: list[pa.Table] = []
        write_behind(batches, lambda batch: parts.append(conform_to_schema(table, batch_rows(batch), state.schema)))
        data = pa.concat_tables(parts) if parts else state.schema.empty_table()
        return self._commit(table, data, properties(), replace=False, check=check)

    @reports_commits
    def overwrite(
        self,
        table: TableId,
        data: pa.Table,
        properties: Mapping[str, str] | None = None,
        check: CommitCheck | None = None,
    ) -> Commit:
        """Replace all rows in one commit that also stores `properties`.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: the data or the properties do not fit; the table is left as it was.
            ConcurrentCommitError: `check` refused the commits made since it was planned.
        """
        return self._commit(table, data, properties, replace=True, check=check)

    def evolve_schema(self, table: TableId, schema: pa.Schema) -> tuple[SchemaChange, ...]:
        """Evolve the table's schema; the snapshots kept for time travel are read in the new one.

        Raises:
            TableNotFoundError: the table does not exist.
            SchemaEvolutionError: the change is not compatible; nothing changes.
        """
        state = self._get(table)
        with self._lock:
            plan = plan_evolution(table, state.schema, schema)
            if plan.changes:
                state.schema = plan.schema
                state.snapshots = [align_to_schema(s, plan.schema) for s in state.snapshots]
                for staged in state.staged.values():
                    staged.rows = align_to_schema(staged.rows, plan.schema)
        return plan.changes

    @reports_commits
    def delete_rows(self, table: TableId, keys: pa.Table, properties: Mapping[str, str] | None = None) -> Commit | None:
        """Delete the rows matching `keys` in one commit; None when none matches.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: a key column does not fit, or the properties do not.
        """
        state = self._get(table)
        props = check_properties(table, properties)
        check_key_columns(table, state.schema, keys)
        current = state.current()
        hit = matching_rows(table, current, keys)
        if not pc.any(hit).as_py():
            return None
        return self._commit(table, current.filter(pc.invert(hit)), props, replace=True)

    def read(self, table: TableId, columns: Sequence[str] | None = None, as_of: int | None = None) -> pa.Table:
        """Read the table (or only `columns`), at the current or the given version, in the current schema.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: `as_of` is not a version of the table, or a column is unknown.
        """
        state = self._get(table)
        if as_of is None:
            data = state.current()
        else:
            index = next((i for i, c in enumerate(state.commits) if c.version == as_of), None)
            if index is None:
                raise ValueError(f"{table} has no version {as_of}")
            data = state.snapshots[index]
        if columns is None:
            return data
        if unknown := [c for c in columns if c not in state.schema.names]:
            raise ValueError(f"{table} has no column(s) {', '.join(unknown)}")
        return data.select(list(columns))

    def history(self, table: TableId) -> list[Commit]:
        """Every commit of the table, oldest first."""
        return list(self._get(table).commits)

    def location(self, table: TableId) -> str:
        """`memory://<domain>/<name>` (the table exists only in this process)."""
        self._get(table)
        return f"memory://{table.domain}/{table.name}"

    def _get(self, table: TableId) -> _Table:
        try:
            return self._tables[table]
        except KeyError:
            raise TableNotFoundError(table, "the memory store") from None

    def _commit(
        self,
        table: TableId,
        data: pa.Table,
        properties: Mapping[str, str] | None,
        replace: bool,
        check: CommitCheck | None = None,
    ) -> Commit:
        state = self._get(table)
        props = check_properties(table, properties)
        rows = conform_to_schema(table, data, state.schema)
        with self._lock:
            if check is not None and not check.allows(state.commits):
                raise ConcurrentCommitError(table, commits_since(state.commits, check.seen))
            previous = state.commits[-1] if state.commits else None
            state.last_version += 1
            commit = Commit(
                version=state.last_version,
                sequence=len(state.commits) + 1,
                timestamp_ms=max(time.time_ns() // 1_000_000, previous.timestamp_ms if previous else 0),
                properties=props,
            )
            snapshot = rows if replace else pa.concat_tables([state.current(), rows])
            if self._staging:
                state.staged[commit.version] = _Staged(commit, previous.version if previous else None, snapshot)
            else:
                state.snapshots.append(snapshot)
                state.commits.append(commit)
        return commit
