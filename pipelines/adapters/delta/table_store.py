"""DeltaTableStore: Delta Lake tables under one root directory, written with deltalake (delta-rs)."""

from __future__ import annotations

import copy
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.exceptions import TableNotFoundError as DeltaTableNotFoundError
from deltalake.schema import Schema as DeltaSchema
from deltalake.transaction import AddAction, RemoveAction

from pipelines.adapters.delta.arrow_reads import read_arrow
from pipelines.adapters.delta.commit_stats import commit_stats, with_action_stats
from pipelines.adapters.delta.data_files import DeltaDataFile, write_data_file
from pipelines.adapters.delta.staged_commits import StagedCommit, stage
from pipelines.adapters.partition_files import write_partitioned
from pipelines.adapters.storage import Location, as_location
from pipelines.core.commits import Commit, TableFormat, properties_in
from pipelines.core.names import TableId
from pipelines.logs import table_event
from pipelines.ports.commit_check import (
    MAX_COMMIT_ATTEMPTS,
    CommitCheck,
    ConcurrentCommitError,
    commits_since,
    pause_after_lost_race,
)
from pipelines.ports.commit_observers import reports_commits
from pipelines.ports.table_evolution import (
    SchemaChange,
    align_to_schema,
    check_key_columns,
    matching_rows,
    plan_evolution,
)
from pipelines.ports.table_store import (
    PARQUET_DICTIONARY_BYTES,
    PROPERTY_PREFIX,
    ROW_GROUP_ROWS,
    Batch,
    PartitionField,
    PartitionRows,
    TableNotFoundError,
    batch_rows,
    check_partitioning,
    check_properties,
    conform_batch,
    conform_to_schema,
    partition_rows,
    table_schema,
    write_behind,
)

_log = logging.getLogger(__name__)
_COMMIT_FILE = re.compile(r"/(\d{20})\.json$")
_OUTRUN = "invalid table version"
_VANISHED_ENTRY = ("not found", _OUTRUN)
"""How delta-rs words a log entry that was listed but is gone when read (it raises a plain `DeltaError`)."""
_T = TypeVar("_T")
GENERATION_KEY = b"delta.generationExpression"
PARTITION_COLUMN_PREFIX = "_part_"
REWRITE_PROPERTY = "meshlake.schema_rewrite"
WRITER_PROPERTIES = WriterProperties(
    max_row_group_size=ROW_GROUP_ROWS, dictionary_page_size_limit=PARQUET_DICTIONARY_BYTES, compression="ZSTD"
)
"""Every delta-rs write: zstd like the Iceberg store (delta-rs writes uncompressed once properties are given)."""

# Delta generation expressions (Spark SQL, evaluated by delta-rs with DataFusion); all yield a date.
_EXPRESSIONS = {
    "day": "CAST(`{column}` AS DATE)",
    "month": "CAST(DATE_TRUNC('MONTH', `{column}`) AS DATE)",
    "year": "CAST(DATE_TRUNC('YEAR', `{column}`) AS DATE)",
}

# Partition columns whose values `append_batches` writes itself (as Delta's partition value strings).
_PARTITION_VALUE_KINDS = (pa.types.is_integer, pa.types.is_string, pa.types.is_large_string, pa.types.is_date)

# Commits that change only metadata: not part of `history()`, as Iceberg makes no snapshot for them.
_METADATA_ONLY = frozenset(
    {
        "CREATE TABLE",
        "SET TBLPROPERTIES",
        "ADD COLUMN",
        "CHANGE COLUMN",
        "ADD CONSTRAINT",
        "DROP CONSTRAINT",
        "ADD FEATURE",
        "UPDATE FIELD METADATA",
        "UPDATE TABLE METADATA",
        "VACUUM START",
        "VACUUM END",
    }
)


def partition_column(part: PartitionField) -> str:
    """The Delta partition column of a partition field: the column itself, or its generated date."""
    if part.transform == "identity":
        return part.column
    return f"{PARTITION_COLUMN_PREFIX}{part.column}_{part.transform}"


def _is_hidden(field: pa.Field) -> bool:
    return field.name.startswith(PARTITION_COLUMN_PREFIX) and GENERATION_KEY in (field.metadata or {})


def _sql_literal(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"delete keys must be strings or integers, not {value!r}")


def _key_predicate(keys: pa.Table) -> str:
    """A SQL predicate matching the rows of `keys`: one conjunction per distinct prefix, IN on the last column."""
    *prefix, last = keys.column_names
    groups: dict[tuple[object, ...], set[object]] = {}
    for row in keys.to_pylist():
        groups.setdefault(tuple(row[c] for c in prefix), set()).add(row[last])
    terms = []
    for values, lasts in sorted(groups.items(), key=repr):
        parts = [f'"{c}" = {_sql_literal(v)}' for c, v in zip(prefix, values, strict=True)]
        parts.append(f'"{last}" IN ({", ".join(_sql_literal(v) for v in sorted(lasts, key=repr))})')
        terms.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(terms)


def _partition_keys(rows: pa.Table, columns: Sequence[str], fields: Mapping[str, pa.Field]) -> pa.Table | None:
    """Each row's Delta partition values (a column per partition column); None when a type is not handled.

    An identity column is taken as it is; a generated `_part_<column>_<transform>` column is
    computed like its expression (a UTC date). They become strings per partition, not per row
    (`_partition_strings`).
    """
    values = {}
    for name in columns:
        field = fields[name]
        expression = (field.metadata or {}).get(GENERATION_KEY)
        if expression is None:
            if not any(kind(field.type) for kind in _PARTITION_VALUE_KINDS):
                return None
            values[name] = rows.column(name)
            continue
        source, transform = name.removeprefix(PARTITION_COLUMN_PREFIX).rsplit("_", 1)
        column = rows.column(source)
        if transform != "day":
            column = pc.floor_temporal(column, unit=transform)
        values[name] = pc.cast(column, pa.date32())
    return pa.table(values)


def _partition_strings(values: Mapping[str, Any]) -> dict[str, str | None]:
    """Partition values (integers, strings, dates) as the strings of Delta's `partitionValues`."""
    return {c: None if v is None else v.isoformat() if isinstance(v, date) else str(v) for c, v in values.items()}


def _commit(entry: Mapping[str, Any], sequence: int) -> Commit:
    return Commit(
        version=int(entry["version"]),
        sequence=sequence,
        timestamp_ms=int(entry["timestamp"]),
        # meshlake's own commits hold them at the top; an engine's (Spark) in userMetadata (`properties_text`)
        properties=properties_in(entry.get("userMetadata"), PROPERTY_PREFIX)
        | {k: str(v) for k, v in entry.items() if k.startswith(PROPERTY_PREFIX)},
        stats=commit_stats(entry),
    )


def _log_head(root: Location) -> int | None:
    """The newest version in the table's log: that of its newest commit file (None: no log)."""
    files = root.list_files("_delta_log", recursive=False)
    return max((int(m.group(1)) for f in files if (m := _COMMIT_FILE.search(f.uri))), default=None)


def _reading_log(read: Callable[[], _T]) -> _T:
    """`read()` (of the table's log), again when it failed on a log entry that vanished.

    delta-rs lists the log, then reads the entries it listed: an expiry (`DeltaMaintenance.expire`, in
    another process) that removes the entries before a new checkpoint in between makes it fail
    (`FileNotFoundError`, or a `DeltaError` saying a commit or checkpoint file is "not found", or
    "Invalid table version"); listed again, the log starts at that checkpoint.
    """
    for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
        try:
            return read()
        except (FileNotFoundError, DeltaError) as exc:
            vanished = isinstance(exc, FileNotFoundError) or any(m in str(exc).lower() for m in _VANISHED_ENTRY)
            if not vanished or isinstance(exc, DeltaTableNotFoundError) or attempt == MAX_COMMIT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _commit_infos(delta: DeltaTable, root: Location) -> list[dict[str, Any]]:
    """The commit info of every entry of the table's log at `root`, each with its version.

    delta-rs's `history()` lists the log as it is when called, reads each entry (`_reading_log`), and
    labels them counting down from the version the `DeltaTable` is at: on a table opened before another
    writer's commit, each entry carried the version before its own (a commit was then missing from the
    log, or another's taken for it). The listing is bracketed by two readings of the log's newest version
    and labelled from it; it is listed again when a commit landed meanwhile.

    Raises:
        CommitFailedError: the log changed during each of `MAX_COMMIT_ATTEMPTS` readings.
    """
    for _ in range(MAX_COMMIT_ATTEMPTS):
        head = _log_head(root)
        infos = _reading_log(delta.history)
        if head is not None and _log_head(root) == head:
            return [info | {"version": head - at} for at, info in enumerate(infos)]
    raise CommitFailedError(f"the Delta log at {root} changed during each of {MAX_COMMIT_ATTEMPTS} readings")


class _NothingMatchesError(Exception):
    """No row of the table matches the keys to delete (now): nothing is committed."""


class DeltaTableStore:
    """Delta tables at `<root>/<domain>/<name>`.

    `ensure_table` commits version 0 (`CREATE TABLE`); `history()` lists the data commits after it,
    so `Commit.version` is the Delta version and `sequence` its position among data commits.

    Partitioning: `identity` partitions by the column; `day`/`month`/`year` add a hidden generated
    date column `_part_<column>_<transform>` (a Delta generated column, computed by the writer, e.g.
    `CAST(ts AS DATE)`) and partition by it. `schema()` and `read()` never show it; other engines
    reading the table directly do.

    Field metadata: delta-rs keeps Arrow field metadata in the Delta schema, so `PARQUET:field_id`
    (stored as `parquet.field.id`) and `doc` survive on top-level and nested fields.
    """

    def __init__(self, root: Location | Path | str) -> None:
        """Use `root` (a local directory, created on the first table, or an object store location) for every table.

        Raises:
            StorageError: an object store root cannot be reached (or its bucket is missing).
        """
        self._root = as_location(root)
        self._staged = False
        if not self._root.is_local:
            self._root.check()

    @property
    def writes_candidates(self) -> bool:
        """Whether this store's commits make candidates (`staged`), as `reports_commits` tells observers."""
        return self._staged

    def staged(self) -> DeltaTableStore:
        """The same tables, whose data commits are staged beside the log instead of committed (`staged_commits`):
        current for no reader until published (`DeltaCandidates`)."""
        staged = copy.copy(self)
        staged._staged = True
        return staged

    @property
    def format(self) -> TableFormat:
        return TableFormat.DELTA

    @property
    def storage(self) -> Location:
        """Where the tables live (each at `<root>/<domain>/<name>`)."""
        return self._root

    def exists(self, table: TableId) -> bool:
        location = self._path(table)
        with location.errors():
            return DeltaTable.is_deltatable(location.uri, storage_options=location.delta_options())

    def drop_table(self, table: TableId) -> None:
        """Delete the table's folder: its log first, so that a drop cut short leaves no table behind."""
        location = self._path(table)
        (location / "_delta_log").delete_tree()
        location.delete_tree()

    def ensure_table(self, table: TableId, schema: pa.Schema, partition_by: Sequence[PartitionField] = ()) -> None:
        """Create the table if it does not exist; an existing table is left as it is.

        Raises:
            ValueError: the schema or the partitioning do not fit.
        """
        if self.exists(table):
            return
        stored = table_schema(schema)
        check_partitioning(table, stored, partition_by)
        fields = list(stored)
        for part in partition_by:
            if part.transform == "identity":
                continue
            name = partition_column(part)
            if name in stored.names:
                raise ValueError(f"{table}: column {name} is reserved for partitioning by {part.transform}")
            expression = _EXPRESSIONS[part.transform].format(column=part.column)
            fields.append(pa.field(name, pa.date32(), metadata={GENERATION_KEY: expression.encode()}))
        location = self._path(table)
        if (path := location.local_path) is not None:
            path.mkdir(parents=True, exist_ok=True)
        DeltaTable.create(
            location.uri,
            pa.schema(fields),
            mode="ignore",
            partition_by=[partition_column(p) for p in partition_by] or None,
            storage_options=location.delta_options(),
        )

    def schema(self, table: TableId) -> pa.Schema:
        """The table's Arrow schema without the hidden partition columns."""
        return self._schema(self._open(table))

    @reports_commits
    def append(
        self,
        table: TableId,
        data: pa.Table,
        properties: Mapping[str, str] | None = None,
        check: CommitCheck | None = None,
    ) -> Commit:
        """Append rows in one commit whose commit info also stores `properties`; returns it.

        An empty `data` still makes a commit (it records the properties). A commit that loses a
        race with another writer is made again on top of the winner's if `check` accepts it.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: the data or the properties do not fit; the table is left as it was.
            ConcurrentCommitError: `check` refused another writer's commits; nothing was committed.
        """
        return self._write(table, data, properties, "append", check)

    @reports_commits
    def append_batches(
        self,
        table: TableId,
        batches: Iterable[Batch],
        properties: Callable[[], Mapping[str, str]],
        check: CommitCheck | None = None,
    ) -> Commit:
        """Write each batch into Parquet files (one per partition) as it comes, then add them all in one commit.

        delta-rs takes commit properties before it reads a stream, but they are known only after
        the last batch: the files are written here (`DeltaDataFile`, `write_partitioned`: a
        partition's file stays open across batches) and committed with `create_write_transaction`.
        A table partitioned by an identity column of another type than integer, string or date
        takes the batches in memory and writes them with `write_deltalake`. A commit that loses a
        race with another writer is made again on top of the winner's if `check` accepts it.
        A batch or properties that do not fit, or a refused check, remove the files written so far.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: a batch or the properties do not fit; nothing is committed.
            ConcurrentCommitError: `check` refused another writer's commits; nothing was committed.
        """
        delta = self._open(table)
        schema, root = self._schema(delta), self._path(table)
        columns = delta.metadata().partition_columns
        fields = {f.name: f for f in pa.schema(delta.schema().to_arrow())}
        if _partition_keys(schema.empty_table(), columns, fields) is None:
            parts: list[pa.Table] = []
            write_behind(batches, lambda batch: parts.append(conform_to_schema(table, batch_rows(batch), schema)))
            data = pa.concat_tables(parts) if parts else schema.empty_table()
            return self._write(table, data, properties(), "append", check)
        opened: list[DeltaDataFile] = []

        def split(batch: Batch) -> list[PartitionRows]:
            rows, selected = conform_batch(table, batch, schema)
            if not rows.num_rows:
                return []
            keys = _partition_keys(rows, columns, fields)
            assert keys is not None, "checked on the empty schema"
            return partition_rows(rows, keys, selected)

        def open_file(values: dict[str, Any]) -> DeltaDataFile:
            opened.append(DeltaDataFile(root, _partition_strings(values), columns))
            return opened[-1]

        try:
            written, props = write_partitioned(batches, split, open_file, lambda: check_properties(table, properties()))
        except BaseException:
            root.delete_files([file.uri for file in opened])
            raise
        actions: list[AddAction | RemoveAction] = []
        for file in written:
            assert file.action is not None, "write_partitioned returns closed files"
            actions.append(file.action)
        try:
            return self._commit_actions(table, actions, props, check)
        except (ConcurrentCommitError, CommitFailedError):
            root.delete_files([file.uri for file in opened])
            raise

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
            ConcurrentCommitError: `check` refused another writer's commits; nothing was committed.
        """
        return self._write(table, data, properties, "overwrite", check)

    def evolve_schema(self, table: TableId, schema: pa.Schema) -> tuple[SchemaChange, ...]:
        """Evolve the table's schema; metadata-only where delta-rs allows it.

        New columns and nested fields: `ALTER TABLE ADD COLUMNS` (delta-rs merges struct fields);
        a top-level NOT NULL dropped: `DROP NOT NULL`. Delta has no in-place type widening in
        delta-rs, so a widening (or a nested NOT NULL dropped) rewrites the table in one commit with
        the new schema, marked `meshlake.schema_rewrite` and left out of `history()`: it changes no
        rows. The generated partition columns are kept. It commits through the store's commit loop:
        an evolution that lost a race (another evolution, a commit) is planned again on the winner's.

        Raises:
            TableNotFoundError: the table does not exist.
            SchemaEvolutionError: the change is not compatible; nothing changes.
        """
        changes: tuple[SchemaChange, ...] = ()

        def commit(current: DeltaTable, commit_properties: CommitProperties) -> None:
            nonlocal changes
            plan = plan_evolution(table, self._schema(current), schema)
            changes = plan.changes
            if not changes:
                return
            relaxed = {c.column for c in changes if c.kind == "nullable" and c.column in plan.schema.names}
            if all(c.kind == "add" or c.column in relaxed for c in changes):
                for column in sorted(relaxed):
                    current.alter.drop_column_not_null(column, commit_properties=commit_properties)
                added = {c.column.split(".")[0].split("[")[0] for c in changes if c.kind == "add"}
                if added:
                    fields = pa.schema([plan.schema.field(n) for n in plan.schema.names if n in added])
                    current.alter.add_columns(
                        list(DeltaSchema.from_arrow(fields).fields), commit_properties=commit_properties
                    )
                return
            hidden = [f for f in pa.schema(current.schema().to_arrow()) if _is_hidden(f)]
            data = align_to_schema(read_arrow(current, self._root), pa.schema([*plan.schema, *hidden]))
            commit_properties.custom_metadata = {REWRITE_PROPERTY: "; ".join(str(c) for c in changes)}
            write_deltalake(
                current,
                data,
                mode="overwrite",
                schema_mode="overwrite",
                partition_by=current.metadata().partition_columns or None,
                writer_properties=WRITER_PROPERTIES,
                commit_properties=commit_properties,
            )

        self._commit_with_retries(table, {}, None, commit)  # planned again on the winner's schema after a lost race
        return changes

    @reports_commits
    def delete_rows(self, table: TableId, keys: pa.Table, properties: Mapping[str, str] | None = None) -> Commit | None:
        """Delete the matching rows with delta-rs (a `DELETE` commit rewriting the files that hold them).

        A delete that loses a race with another writer is planned again on the winner's version:
        deletes of other rows at once all land.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: a key column does not fit, or the properties do not.
        """
        delta = self._open(table)
        props = check_properties(table, properties)
        check_key_columns(table, self._schema(delta), keys)
        if keys.num_rows == 0:
            return None

        def commit(current: DeltaTable, commit_properties: CommitProperties) -> None:
            rows = read_arrow(current, self._root, keys.column_names)
            if not pc.any(matching_rows(table, rows, keys)).as_py():
                raise _NothingMatchesError
            predicate = _key_predicate(keys.cast(pa.schema([rows.schema.field(n) for n in keys.column_names])))
            current.delete(predicate, WRITER_PROPERTIES, commit_properties=commit_properties)

        try:  # a delete that lost a race is planned again on the winner's version
            deleted = self._commit_with_retries(table, props, None, commit, delta)
        except _NothingMatchesError:
            return None
        return self._commit_of(table, deleted)

    def read(self, table: TableId, columns: Sequence[str] | None = None, as_of: int | None = None) -> pa.Table:
        """Read the table (or only `columns`), at the current version or version `as_of`.

        A version written under an earlier schema is read in the current one.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: `as_of` is not a version in `history()`, or a column is unknown.
        """
        delta = self._open(table)
        schema = self._schema(delta)
        names = list(columns) if columns is not None else schema.names
        if unknown := [c for c in names if c not in schema.names]:
            raise ValueError(f"{table} has no column(s) {', '.join(unknown)}")
        wanted = pa.schema([schema.field(n) for n in names])
        if as_of is None:
            data = read_arrow(delta, self._root, names)
            return data.select(names).cast(wanted)
        if as_of not in {c.version for c in self._history(delta)}:
            raise ValueError(f"{table} has no version {as_of}")
        delta.load_as_version(as_of)
        present = [n for n in names if n in self._schema(delta).names]
        data = read_arrow(delta, self._root, present)
        return align_to_schema(data.select(present), wanted)

    def history(self, table: TableId) -> list[Commit]:
        """Every data commit still in the Delta log, oldest first."""
        return self._history(self._open(table))

    def location(self, table: TableId) -> str:
        """The URI of the table's root directory."""
        return str(self._open(table).table_uri)

    def _path(self, table: TableId) -> Location:
        return self._root / table.domain / table.name

    def _open(self, table: TableId, version: int | None = None) -> DeltaTable:
        """The table at its latest version (or at `version`), its log read once (no existence check first)."""
        location = self._path(table)
        with location.errors():
            try:
                return _reading_log(
                    lambda: DeltaTable(location.uri, version=version, storage_options=location.delta_options())
                )
            except DeltaTableNotFoundError:
                raise TableNotFoundError(table, f"the Delta root {self._root}") from None

    @staticmethod
    def _schema(delta: DeltaTable) -> pa.Schema:
        return pa.schema([f for f in pa.schema(delta.schema().to_arrow()) if not _is_hidden(f)])

    def _history(self, delta: DeltaTable) -> list[Commit]:
        """The data commits of `delta`'s log up to the version `delta` is at."""
        infos = _commit_infos(delta, self._root.at(delta.table_uri))
        entries = sorted((e for e in infos if e["version"] <= delta.version()), key=lambda e: int(e["version"]))
        data_commits = [e for e in entries if e.get("operation") not in _METADATA_ONLY and REWRITE_PROPERTY not in e]
        return [_commit(e, i) for i, e in enumerate(data_commits, start=1)]

    def _write(
        self,
        table: TableId,
        data: pa.Table,
        properties: Mapping[str, str] | None,
        mode: Literal["append", "overwrite"],
        check: CommitCheck | None = None,
    ) -> Commit:
        delta = self._open(table)
        props = check_properties(table, properties)
        rows = conform_to_schema(table, data, self._schema(delta))
        if self._staged:  # the files are written here, as `write_deltalake` would commit them
            if delta.metadata().partition_columns:
                raise ValueError(f"{table}: staged writes need an unpartitioned Delta table")
            now = int(time.time() * 1000)
            files = pa.table(delta.get_add_actions(flatten=True)).to_pylist() if mode == "overwrite" else []
            actions: list[AddAction | RemoveAction] = [RemoveAction(f["path"], True, now, f["size_bytes"], {})
                                                       for f in files]  # fmt: skip
            if rows.num_rows:
                actions.append(write_data_file(self._path(table), rows))
            return self._commit_actions(table, actions, props, check, delta)

        def commit(current: DeltaTable, commit_properties: CommitProperties) -> None:
            write_deltalake(
                current, rows, mode=mode, commit_properties=commit_properties, writer_properties=WRITER_PROPERTIES
            )

        return self._commit_of(table, self._commit_with_retries(table, props, check, commit))

    def _commit_actions(
        self,
        table: TableId,
        actions: Sequence[AddAction | RemoveAction],
        props: dict[str, str],
        check: CommitCheck | None,
        planned: DeltaTable | None = None,
    ) -> Commit:
        """Commit `actions` (their data files written) in one commit (`_commit_with_retries`), or stage them
        on the version `planned` (else the newest) is at when the store is staged (`staged_commits`).

        Raises:
            ConcurrentCommitError: `check` refused another writer's commits; nothing was committed.
            CommitFailedError: `MAX_COMMIT_ATTEMPTS` races were lost.
        """
        if self._staged:
            delta = planned if planned is not None else self._open(table)
            history = self._history(delta)
            if check is not None and not check.allows(history):
                raise ConcurrentCommitError(table, commits_since(history, check.seen))
            base = delta.version()
            commit = Commit(base + 1, len(history) + 1, int(time.time() * 1000), props)
            stage(self._path(table), StagedCommit(base, commit, tuple(actions)))
            return commit

        def commit_actions(current: DeltaTable, commit_properties: CommitProperties) -> None:
            self._transaction(current, actions, commit_properties)

        self._commit_with_retries(table, props, check, commit_actions, planned)
        return self._commit_of(table, self._open(table))  # the table written through still shows the version before

    @staticmethod
    def _transaction(
        current: DeltaTable, actions: Sequence[AddAction | RemoveAction], commit_properties: CommitProperties
    ) -> None:
        """Commit `actions` (their data files written) on `current`, with their counts as the commit's stats."""
        current.create_write_transaction(
            list(actions),
            mode="append",
            schema=current.schema(),
            partition_by=current.metadata().partition_columns or None,
            commit_properties=with_action_stats(commit_properties, actions),
        )

    def _commit_with_retries(
        self,
        table: TableId,
        props: dict[str, str],
        check: CommitCheck | None,
        commit: Callable[[DeltaTable, CommitProperties], None],
        planned: DeltaTable | None = None,
    ) -> DeltaTable:
        """The one commit loop of the Delta store: `commit` on the table's newest version, again on each lost race.

        Each attempt is tried once on the version it planned on (`max_commit_retries=0`: the next version
        must be free); a lost race loads the newest version and, when `check` (if any) accepts the
        commits made since, runs `commit` on it. The first attempt commits on `planned` (the table a plan
        read) when given, else on the newest version. delta-rs's own resolution of a race is not used,
        even for appends, which commute: it reads the log entries between the two versions, which an
        expiry may have removed meanwhile ("Invalid table version"), and commits a compaction or a
        vacuum with the properties it was given.

        Returns:
            The table `commit` wrote through (at the version it made).

        Raises:
            ConcurrentCommitError: `check` refused the commits of another writer; nothing was committed.
            CommitFailedError: `MAX_COMMIT_ATTEMPTS` races were lost.
        """
        for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
            delta = planned if planned is not None and attempt == 1 else self._open(table)
            if check is not None and not check.allows(commits := self._history(delta)):
                raise ConcurrentCommitError(table, commits_since(commits, check.seen))
            try:
                commit(delta, CommitProperties(custom_metadata=props, max_commit_retries=0))
            except DeltaError as exc:
                # a lost race; "Invalid table version" when the winner's entries were already expired
                if not isinstance(exc, CommitFailedError) and _OUTRUN not in str(exc).lower():
                    raise
                if attempt == MAX_COMMIT_ATTEMPTS:
                    raise
                table_event(
                    _log, "retry", None, table, delta.version(), attempt=attempt + 1, reason="another commit came first"
                )
                pause_after_lost_race(attempt)
                continue
            return delta
        raise AssertionError("unreachable")  # pragma: no cover

    def _commit_of(self, table: TableId, delta: DeltaTable) -> Commit:
        """The commit `delta` (just written through) is at."""
        version = delta.version()
        commit = next((c for c in self._history(delta) if c.version == version), None)
        assert commit is not None, f"{table}: version {version} just written is missing from the log"
        return commit
