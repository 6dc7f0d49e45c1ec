"""The TableStore port: create, evolve, append, overwrite, delete from and read tables of one open table format."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, TypeVar, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.commits import Commit, TableFormat
from pipelines.core.names import TableId

if TYPE_CHECKING:
    from pipelines.ports.commit_check import CommitCheck
    from pipelines.ports.table_evolution import SchemaChange


class TableNotFoundError(LookupError):
    """The table does not exist in this store."""

    def __init__(self, table: TableId, where: str) -> None:
        super().__init__(f"table {table} does not exist in {where}")
        self.table = table


@dataclass(frozen=True)
class PartitionField:
    """Partition a table by `transform(column)`; `day` needs a timestamp column."""

    column: str
    transform: Literal["identity", "day", "month", "year"] = "identity"


@runtime_checkable
class TableStore(Protocol):
    """Tables of one format. Every write is one atomic commit carrying `properties`.

    Schemas are Arrow schemas; field metadata `PARQUET:field_id` (the proto field number) is kept as
    the table's field id where the format has ids. A failed write leaves the table as it was.
    """

    @property
    def format(self) -> TableFormat: ...

    def exists(self, table: TableId) -> bool: ...

    def ensure_table(self, table: TableId, schema: pa.Schema, partition_by: Sequence[PartitionField] = ()) -> None:
        """Create the table if it does not exist; an existing table is left as it is."""
        ...

    def drop_table(self, table: TableId) -> None:
        """Remove the table, its rows, history and files; a table that does not exist is no error."""
        ...

    def schema(self, table: TableId) -> pa.Schema: ...

    def append(
        self,
        table: TableId,
        data: pa.Table,
        properties: Mapping[str, str] | None = None,
        check: CommitCheck | None = None,
    ) -> Commit:
        """Append rows in one commit that also stores `properties`; returns that commit.

        With `check`, the commit is made only if the check accepts the commits other writers made
        since the state it was planned on (`pipelines.ports.commit_check`); otherwise
        `ConcurrentCommitError` is raised with nothing committed.
        """
        ...

    def append_batches(
        self,
        table: TableId,
        batches: Iterable[Batch],
        properties: Callable[[], Mapping[str, str]],
        check: CommitCheck | None = None,
    ) -> Commit:
        """Append the rows of every batch (a table, or a `Selection` of one) in one commit, writing each as it comes.

        Memory holds a batch or two, never the whole commit: a batch is written (as data files)
        while the next one is produced, and one commit at the end adds every file. `properties`
        is called once the batches are exhausted, before that commit (while the last files are
        finished), so it may describe what producing them consumed. No batch at all still makes a
        commit, as `append` does. `check` is asked before the commit as in `append`.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: a batch or the properties do not fit; nothing is committed.
            ConcurrentCommitError: `check` refused another writer's commits; the files are removed.
        """
        ...

    def overwrite(
        self,
        table: TableId,
        data: pa.Table,
        properties: Mapping[str, str] | None = None,
        check: CommitCheck | None = None,
    ) -> Commit:
        """Replace all rows in one commit that also stores `properties`.

        `check` is asked before the commit as in `append` (a stale rewrite must not replace a newer
        one); without it, the last overwrite wins.
        """
        ...

    def evolve_schema(self, table: TableId, schema: pa.Schema) -> tuple[SchemaChange, ...]:
        """Evolve the table so that it accepts data of `schema` (the rules: `table_evolution`).

        New columns and nested fields are added as nullable (a new top-level column keeps its
        `PARQUET:field_id`), int32→int64 and float→double are widened, NOT NULL is dropped where
        `schema` allows nulls. Rows already written read new columns as null. The change adds no
        commit to `history()`; evolving to a schema the table already accepts changes nothing.

        Returns:
            The changes made; empty when there was nothing to change.

        Raises:
            TableNotFoundError: the table does not exist.
            SchemaEvolutionError: a change is not compatible (a column missing from `schema`, a type
                change other than a widening, a changed field id); the message names the table, the
                column and the rule, and the table is left as it was.
        """
        ...

    def delete_rows(self, table: TableId, keys: pa.Table, properties: Mapping[str, str] | None = None) -> Commit | None:
        """Delete every row whose values in the columns of `keys` equal a row of `keys`.

        One commit storing `properties`; none when no row matches.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: a key column is unknown or neither a string nor an integer column, or the
                properties do not fit; the table is left as it was.
        """
        ...

    def read(self, table: TableId, columns: Sequence[str] | None = None, as_of: int | None = None) -> pa.Table:
        """Read the table (or only `columns`), at the current or the given version.

        Always in the current schema: columns added after `as_of` read as null, widened columns in
        their new type.
        """
        ...

    def history(self, table: TableId) -> list[Commit]:
        """Every commit still in the table's history, oldest first."""
        ...

    def location(self, table: TableId) -> str:
        """A URI where the table lives (Iceberg metadata file or Delta table root)."""
        ...


# Shared rules every implementation applies, so that all of them accept and refuse the same writes.

PROPERTY_PREFIX = "meshlake."
# Rows per Parquet row group every store writes: DuckDB and Polars parallelise over row groups, and
# the writers' default (one group per file) leaves a reader one core (benchmarks: query_ratio).
ROW_GROUP_ROWS = 131_072
# Dictionary page size past which a column chunk falls back to plain encoding. Unique values (event
# and order ids, offsets) give up on a dictionary after 64 KiB rather than hashing up to the writers'
# 1-2 MiB first; repeated ones (status, currency, SKUs) still fit (benchmarks: ~10% less Parquet CPU
# on bronze, and smaller files).
PARQUET_DICTIONARY_BYTES = 64 * 1024

_Batch = TypeVar("_Batch")


def write_behind(batches: Iterable[_Batch], write: Callable[[_Batch], object]) -> None:
    """Call `write(batch)` for every batch on a worker thread while the caller's thread produces the next batch.

    Producing (decoding) and writing (Parquet encoding) both run mostly in Arrow code that releases
    the GIL, so the two overlap on two cores. At most one batch is being written and one produced.
    An error from either side propagates once the write under way has finished.

    `write` gets the only reference to its batch (none stays here or in the pool's work item), so
    it can free the batch as soon as it holds what it writes (e.g. a sorted copy).
    """
    handed: list[_Batch] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="meshlake-write") as pool:
        pending: Future[object] | None = None
        for batch in batches:
            if pending is not None:
                pending.result()
            handed.append(batch)
            del batch
            pending = pool.submit(lambda: write(handed.pop()))
        if pending is not None:
            pending.result()


@dataclass(frozen=True)
class PartitionRows:
    """The rows of a batch that belong to one partition: its values, and the rows' indexes in the batch.

    The rows are gathered by `take()`, on the thread that writes them: the partitions of a batch
    are gathered in parallel, and no sorted copy of the whole batch is made.
    """

    values: dict[str, Any]
    batch: pa.Table
    indices: pa.Array | None = None
    """Increasing indexes into `batch`; None when every row belongs to the partition."""

    def take(self) -> pa.Table:
        """The partition's rows (see `take_rows`)."""
        return self.batch if self.indices is None else take_rows(self.batch, self.indices)


def take_rows(table: pa.Table, indices: pa.Array) -> pa.Table:
    """The rows of `table` at increasing `indices`, gathered chunk by chunk.

    Arrow's take of a table of several chunks (a decoded batch has one per decoding thread) first
    concatenates each column whole: a copy of the batch per call, about as much work as the take
    itself (benchmarks: ingest).
    """
    positions = indices.to_numpy()
    pieces, start = [], 0
    for chunk in table.to_batches():
        first, last = np.searchsorted(positions, [start, start + chunk.num_rows])
        if last > first:
            pieces.append(chunk.take(pa.array(positions[first:last] - start)))
        start += chunk.num_rows
    return pa.Table.from_batches(pieces, table.schema)


@dataclass(frozen=True)
class Selection:
    """A batch that leaves some rows of `table` out: the rows at `indices` (increasing), gathered only when written.

    Ingestion drops the few rows that break the event contract from each decoded batch. A
    `Table.filter` would copy the whole batch once more on the decoding thread before the writer
    copies each partition's rows out of it (~0.19 s of the ingest thread per 1M events,
    benchmarks: ingest); a selection is gathered once, partition by partition, by the writer.
    """

    table: pa.Table
    indices: pa.Array

    @property
    def num_rows(self) -> int:
        return len(self.indices)

    def rows(self) -> pa.Table:
        return take_rows(self.table, self.indices)


Batch: TypeAlias = "pa.Table | Selection"
"""What `TableStore.append_batches` takes: a table, or the selected rows of one."""


def batch_rows(batch: Batch) -> pa.Table:
    """The rows of a batch as one table."""
    return batch.rows() if isinstance(batch, Selection) else batch


def conform_batch(table: TableId, batch: Batch, schema: pa.Schema) -> tuple[pa.Table, pa.Array | None]:
    """A batch's table conformed to the table's schema (`conform_to_schema`), and its selected rows (None: all)."""
    if isinstance(batch, Selection):
        return conform_to_schema(table, batch.table, schema), batch.indices
    return conform_to_schema(table, batch, schema), None


def partition_rows(rows: pa.Table, keys: pa.Table, selected: pa.Array | None = None) -> list[PartitionRows]:
    """`rows` split by partition: each distinct row of `keys` (its partition values) with the rows that have it.

    The keys are sorted once (stable: a partition's rows keep their order) and each partition's
    indexes are a slice of that order, rather than one filter of the whole batch per partition (a
    day partition per day of events). `selected`: only the rows at these increasing indexes.
    """
    if selected is not None:
        if not len(selected):
            return []
        keys = keys.take(selected) if keys.num_columns else keys
    if not keys.num_columns:
        return [PartitionRows({}, rows, selected)]
    order = pc.sort_indices(keys, [(name, "ascending", "at_end") for name in keys.column_names])
    groups = keys.take(order).group_by(keys.column_names, use_threads=False).aggregate([([], "count_all")])
    if groups.num_rows == 1:
        return [PartitionRows(groups.drop_columns(["count_all"]).to_pylist()[0], rows, selected)]
    if selected is not None:
        order = selected.take(order)
    parts, start = [], 0
    for group in groups.to_pylist():  # in row order
        count = group.pop("count_all")
        parts.append(PartitionRows(group, rows, order.slice(start, count)))
        start += count
    return parts


UINT64_STORED = pa.decimal128(20, 0)
"""How a table stores uint64: every value up to 2**64-1 fits 20 digits (neither format has unsigned integers)."""

_STORED = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): UINT64_STORED,
    pa.duration("us"): pa.int64(),
}


def _stored_type(type_: pa.DataType) -> pa.DataType:
    if type_ in _STORED:
        return _STORED[type_]
    if pa.types.is_struct(type_):
        return pa.struct([f.with_type(_stored_type(f.type)) for f in type_.fields])
    if pa.types.is_map(type_):
        return pa.map_(
            type_.key_field.with_type(_stored_type(type_.key_type)),
            type_.item_field.with_type(_stored_type(type_.item_type)),
        )
    if pa.types.is_large_list(type_):
        return pa.large_list(type_.value_field.with_type(_stored_type(type_.value_type)))
    if pa.types.is_list(type_):
        return pa.list_(type_.value_field.with_type(_stored_type(type_.value_type)))
    return type_


def table_schema(schema: pa.Schema) -> pa.Schema:
    """The schema a table stores for `schema`: types the formats lack mapped to ones they have, losslessly.

    Neither Iceberg nor Delta has unsigned integers (both would map `uint32` to a 32-bit signed
    column) or durations; every store maps them the same way so that no value is lost: uint8/16/32
    widen to the next signed integer, uint64 becomes decimal(20,0), a duration (microseconds) int64.

    Raises:
        ValueError: two columns share a name.
    """
    names = schema.names
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"schema has duplicate column(s): {', '.join(dupes)}")
    return pa.schema([f.with_type(_stored_type(f.type)) for f in schema], metadata=schema.metadata)


def check_partitioning(table: TableId, schema: pa.Schema, partition_by: Sequence[PartitionField]) -> None:
    """Check that every partition field names a top-level column its transform accepts.

    Raises:
        ValueError: naming the table and the partition field that is wrong.
    """
    for part in partition_by:
        if part.column not in schema.names:
            raise ValueError(f"{table}: partition column {part.column!r} is not a top-level column")
        type_ = schema.field(part.column).type
        if part.transform == "identity":
            if pa.types.is_nested(type_) or pa.types.is_floating(type_):
                raise ValueError(f"{table}: cannot partition by identity of {part.column!r} ({type_})")
        elif part.transform in ("day", "month", "year"):
            if not (pa.types.is_timestamp(type_) or pa.types.is_date(type_)):
                raise ValueError(
                    f"{table}: partition transform {part.transform}({part.column}) needs a timestamp or "
                    f"date column, not {type_}"
                )
        else:
            raise ValueError(f"{table}: unknown partition transform {part.transform!r}")
    columns = [p.column for p in partition_by]
    if dupes := sorted({c for c in columns if columns.count(c) > 1}):
        raise ValueError(f"{table}: column(s) partitioned twice: {', '.join(dupes)}")


def check_properties(table: TableId, properties: Mapping[str, str] | None) -> dict[str, str]:
    """Return the commit properties as a dict; every key must start with `meshlake.`.

    Raises:
        ValueError: a key lacks the prefix or a value is not a string.
    """
    props = dict(properties or {})
    if bad := sorted(k for k in props if not (isinstance(k, str) and k.startswith(PROPERTY_PREFIX))):
        raise ValueError(f"{table}: commit property keys must start with {PROPERTY_PREFIX!r}: {bad}")
    if bad := sorted(k for k, v in props.items() if not isinstance(v, str)):
        raise ValueError(f"{table}: commit property values must be strings: {bad}")
    return props


_KINDS: tuple[tuple[str, tuple[Callable[[pa.DataType], bool], ...]], ...] = (
    ("integer", (pa.types.is_integer,)),
    ("floating", (pa.types.is_floating,)),
    ("decimal", (pa.types.is_decimal,)),
    ("boolean", (pa.types.is_boolean,)),
    ("string", (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)),
    ("binary", (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view)),
    ("binary", (pa.types.is_fixed_size_binary,)),
    ("date", (pa.types.is_date,)),
    ("time", (pa.types.is_time,)),
    ("duration", (pa.types.is_duration,)),
    ("struct", (pa.types.is_struct,)),
    ("map", (pa.types.is_map,)),
    ("list", (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)),
)


_STORED_KINDS = {("integer", "decimal"), ("duration", "integer")}
"""Kinds a column may change to on write: how `table_schema` stores uint64 and durations."""


def _kind(type_: pa.DataType) -> str:
    if pa.types.is_timestamp(type_):
        return "timestamp with time zone" if type_.tz else "timestamp without time zone"
    return next((name for name, checks in _KINDS if any(check(type_) for check in checks)), str(type_))


def _nested_nulls(path: str, array: pa.Array, type_: pa.DataType) -> list[str]:
    """Paths below `array` (already of `type_`) holding nulls although their field is not nullable."""
    found: list[str] = []
    if pa.types.is_struct(type_):
        # Only rows of a valid struct count: without null structs, the children are read as they are
        # (filtering them copied every nested value of each batch: ~0.08 s per 1M bronze rows).
        valid = array.is_valid() if array.null_count else None
        for index, child in enumerate(type_.fields):
            values = array.field(index)
            if valid is not None:
                values = values.filter(valid)
            if not child.nullable and values.null_count:
                found.append(f"{path}.{child.name}")
            found += _nested_nulls(f"{path}.{child.name}", values, child.type)
    elif pa.types.is_map(type_):
        as_list = pa.list_(pa.field("entries", pa.struct([type_.key_field, type_.item_field])))
        entries = array.view(as_list).flatten()  # a map is a list of key/value structs
        if not type_.item_field.nullable and entries.field(1).null_count:
            found.append(f"{path}.value")
        found += _nested_nulls(f"{path}.key", entries.field(0), type_.key_type)
        found += _nested_nulls(f"{path}.value", entries.field(1), type_.item_type)
    elif pa.types.is_list(type_) or pa.types.is_large_list(type_):
        values = array.flatten()
        if not type_.value_field.nullable and values.null_count:
            found.append(f"{path}[]")
        found += _nested_nulls(f"{path}[]", values, type_.value_type)
    return found


def conform_to_schema(table: TableId, data: pa.Table, schema: pa.Schema) -> pa.Table:
    """Return `data` with exactly the columns, order and types of `schema`, or refuse it.

    A column is cast to the table's type when both are of the same kind (integer to integer, string
    to large string, timestamp to timestamp with the same time-zone awareness, struct to struct, ...)
    and the cast loses nothing; an all-null column of type `null` fits any column.

    Raises:
        ValueError: naming the table and every offending column: missing, unexpected, of another
            kind, not castable without loss, or holding nulls in a non-nullable (nested) field.
    """
    problems: list[str] = []
    names = data.column_names
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"duplicate column(s) {', '.join(dupes)}")
    if missing := [n for n in schema.names if n not in names]:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra := [n for n in names if n not in schema.names]:
        problems.append(f"unexpected column(s) {', '.join(extra)}")
    columns: list[pa.ChunkedArray] = []
    if not problems:
        for field in schema:
            column = data.column(field.name)
            kinds = (_kind(column.type), _kind(field.type))
            if not pa.types.is_null(column.type) and kinds[0] != kinds[1] and kinds not in _STORED_KINDS:
                problems.append(f"column {field.name} is {column.type}, the table has {field.type}")
                continue
            try:  # a column already of the type is kept: Arrow's cast refuses a null child even under a null struct
                column = column if column.type.equals(field.type) else column.cast(field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                problems.append(f"column {field.name} ({column.type}) cannot become {field.type}: {exc}")
                continue
            if not field.nullable and column.null_count:
                problems.append(f"column {field.name} is not nullable but has {column.null_count} null(s)")
            nested = {p for chunk in column.chunks for p in _nested_nulls(field.name, chunk, field.type)}
            if nested:
                problems.append(f"non-nullable field(s) {', '.join(sorted(nested))} hold nulls")
            columns.append(column)
    if problems:
        raise ValueError(f"data written to {table} does not match its schema: {'; '.join(problems)}")
    return pa.Table.from_arrays(columns, schema=schema)
