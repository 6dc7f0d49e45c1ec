"""Capabilities beyond TableStore for incremental pipelines: read what was appended, rewrite rows by key.

Each is its own Protocol, implemented per format next to its TableStore (`adapters/<format>/incremental.py`)
and looked up through the runtime, so a format can offer one without the other.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.commits import Commit
from pipelines.core.names import TableId
from pipelines.ports.table_store import conform_to_schema

if TYPE_CHECKING:
    from pipelines.ports.commit_check import CommitCheck

MAINTENANCE_PROPERTY = "meshlake.maintenance"
"""Set on commits that rewrite files without changing rows (compaction); incremental readers skip them."""


@dataclass(frozen=True)
class Appended:
    """What a table gained since a version.

    Attributes:
        data: the rows appended after `after` up to `version`; the whole table when not `incremental`.
        version: the table version read up to (None: the table has no commit yet).
        rows_scanned: how many rows were read from storage to produce `data`.
        incremental: True when `data` holds exactly what was appended; False when the table was read
            in full (no `after` given, `after` expired from the history, or rows were rewritten or
            deleted since, so that "what is new" has no meaning).
        reason: why the read is not incremental, for logs and metadata.
    """

    data: pa.Table
    version: int | None
    rows_scanned: int
    incremental: bool
    reason: str = ""


@runtime_checkable
class AppendReader(Protocol):
    """Reads only the rows appended to a table since a version it read before."""

    def read_appended(self, table: TableId, after: int | None, columns: Sequence[str] | None = None) -> Appended:
        """The rows appended after version `after` (every row when `after` is None), up to now.

        Commits marked with `meshlake.maintenance` (compaction) add no rows and are skipped.

        Raises:
            TableNotFoundError: the table does not exist.
        """
        ...


@dataclass(frozen=True)
class Rewrite:
    """What a keyed rewrite did."""

    commit: Commit | None
    files_scanned: int
    files_rewritten: int
    files_added: int
    rows_rewritten: int
    rows_written: int
    table_rows: int | None = None
    """Rows of the table after the commit, when the format knows it from metadata (no data read)."""
    files_merged_on_read: int = 0
    """Files kept as they were, whose replaced rows a delete file removes by position (merge-on-read)."""
    rows_updated: int = 0
    """Rows written in place of a row of the same key (the rest of `rows_written` are new keys or kept rows)."""


Replacement = Callable[[pa.Table], pa.Table]
"""Given the current rows of the keys being replaced, the rows that take their place."""


@runtime_checkable
class KeyedRewriter(Protocol):
    """Replaces the rows of some keys in one atomic commit, rewriting only the files that hold them."""

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
        """Replace every row whose `key` is in `keys` by `replacement(those rows)`.

        Files whose key range (statistics) cannot hold a key are not read (for a null key: files whose null
        count of the key is 0; a null key is one key, see `key_bounds`); files holding none of the keys are kept
        as they are; the others are rewritten without the replaced rows. New rows are written sorted by `key`,
        so that later rewrites of nearby keys touch few files.

        Args:
            table: an existing table; `key` is one of its top-level columns.
            key: the column identifying rows.
            keys: the key values to replace (duplicates allowed); None replaces every row (a rebuild).
            replacement: called once with the current rows of those keys (possibly empty); returns
                rows of the table's schema, whose keys are all in `keys`.
            properties: `meshlake.*` properties stored in the same commit.
            merge_on_read: a format that can may keep a file of which few rows change and delete
                those rows by position instead (Iceberg; see `files_merged_on_read`): far less to
                write, and every read applies the deletes until compaction. For tables written
                often and read in bulk (silver); the others rewrite, as does every format without it.
            check: asked about the commits made since the table state the caller planned on (see
                `pipelines.ports.commit_check`); the rewrite itself is planned on the table as it is
                when called, so a check should refuse any commit it cannot rule out touching the keys.
                None: the rewrite holds only on the table as it is when called (any commit made meanwhile
                refuses it).

        Returns:
            The rewrite's counts and commit (None when there was nothing to write or delete).

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: the replacement rows do not fit the table's schema, or the key is unknown.
            ConcurrentCommitError: `check` (without one, any commit since the call) refused another
                writer's commits; nothing was committed.
        """
        ...


@dataclass(frozen=True)
class Changed:
    """What a table lost and gained since a version, file by file.

    Attributes:
        removed: the rows of the files removed since `after` (that existed at `after`).
        added: the rows of the files added since `after` and still in the table.
        version: the table version read up to.
        rows_scanned: rows read from storage (`removed` and `added`).
        incremental: False when the changes could not be told (the version or a removed file is
            gone); `removed` and `added` are then empty and the caller reads everything.
        reason: why the changes could not be told.

    A rewritten file counts whole: its unchanged rows are in both `removed` and `added`.
    """

    removed: pa.Table
    added: pa.Table
    version: int | None
    rows_scanned: int
    incremental: bool = True
    reason: str = ""


@dataclass(frozen=True)
class Ranged:
    """Rows of a table whose column falls in some ranges, and how many rows were read to find them."""

    data: pa.Table
    rows_scanned: int


Ranges = Sequence[tuple[Any, Any]]
"""Half-open `[low, high)` ranges of a column's values."""


@runtime_checkable
class ChangeReader(Protocol):
    """Reads what changed in a table since a version, and rows by ranges of a column."""

    def read_changed(self, table: TableId, after: int, columns: Sequence[str] | None = None) -> Changed:
        """The rows of the files removed and added after version `after` (see `Changed`).

        Raises:
            TableNotFoundError: the table does not exist.
        """
        ...

    def read_ranges(self, table: TableId, column: str, ranges: Ranges) -> Ranged:
        """The rows whose `column` is in one of `ranges`, reading only files whose statistics may hold one.

        Raises:
            TableNotFoundError: the table does not exist.
        """
        ...


@runtime_checkable
class IncrementalTables(AppendReader, KeyedRewriter, ChangeReader, Protocol):
    """Every incremental capability, as every built-in format offers them."""


def in_ranges(data: pa.Table, column: str, ranges: Ranges) -> pa.Table:
    """The rows of `data` whose `column` is in one of the half-open `ranges`."""
    if not ranges:
        return data.slice(0, 0)
    field = pc.field(column)
    wanted = functools.reduce(operator.or_, [(field >= low) & (field < high) for low, high in ranges])
    return data.filter(wanted)


def may_overlap(low: Any, high: Any, ranges: Ranges) -> bool:
    """Whether a file whose column spans `[low, high]` (None: unknown) may hold a value in `ranges`."""
    if low is None or high is None:
        return True
    try:
        return any(not (high < start or low >= end) for start, end in ranges)
    except TypeError:  # statistics of another representation: no pruning
        return True


ROWS_PER_FILE = 16_384
"""Rows per data file a keyed rewrite writes for new keys (and a rebuild for all keys).

Copy-on-write rewrites whole files, so a batch whose updates spread over the newest W keys rewrites
about W rows plus the rest of the file at the edge of that range: with 64k-row files the 1% orders
batch of the silver benchmark rewrote 110k state rows for updates spread over the newest 77k; with
16k, 77k.
"""


def key_set(keys: pa.Array | pa.ChunkedArray, type_: pa.DataType) -> pa.Array:
    """The distinct `keys`, cast to the key column's type, as one array."""
    unique = pa.chunked_array([keys] if isinstance(keys, pa.Array) else keys.chunks, keys.type).unique()
    return unique.cast(type_)


def key_bounds(wanted: pa.Array) -> tuple[tuple[Any, Any] | None, bool]:
    """The range `(low, high)` of the non-null `wanted` keys (None: there are none), and whether null is wanted.

    Key ranges leave nulls out, as `pc.min_max` and file statistics do: a file may hold a wanted null key
    whenever its null count of the key is not 0 (or unknown), whatever its range.
    """
    null = wanted.null_count > 0
    if wanted.null_count == len(wanted):
        return None, null
    low, high = (v.as_py() for v in pc.min_max(wanted).values())
    return (low, high), null


def _concat(columns: Sequence[pa.ChunkedArray | pa.Array]) -> pa.ChunkedArray:
    chunks = [c for column in columns for c in (column.chunks if isinstance(column, pa.ChunkedArray) else [column])]
    return pa.chunked_array(chunks, columns[0].type) if columns else pa.chunked_array([], pa.null())


def _split(
    mask: pa.ChunkedArray | pa.Array, tables: Sequence[pa.Table | pa.ChunkedArray | pa.Array]
) -> list[pa.ChunkedArray]:
    out, start = [], 0
    for table in tables:
        size = len(table)
        out.append(mask.slice(start, size))
        start += size
    return out


def key_hits(key_columns: Sequence[pa.ChunkedArray | pa.Array], wanted: pa.Array) -> list[pa.ChunkedArray]:
    """For each file (given by its key column), which of its rows hold a wanted key.

    One hash table of `wanted` for all the files: built per file, it cost 62 times the lookups
    themselves in an upsert of 100k keys into 62 files.
    """
    if not key_columns:
        return []
    return _split(pc.is_in(_concat(key_columns), value_set=wanted), key_columns)


def files_holding(key_columns: Sequence[pa.ChunkedArray | pa.Array], wanted: pa.Array) -> list[bool]:
    """Which files (given by their key column) hold at least one wanted key; one hash of `wanted`."""
    return [bool(pc.any(part).as_py()) for part in key_hits(key_columns, wanted)]


@dataclass(frozen=True)
class RewritePlan:
    """The files a keyed rewrite writes: one per rewritten file (same keys as before), then the new keys.

    Attributes:
        rewritten: for each touched file, in order, its rows after the rewrite (possibly empty); a file
            of more than `ROWS_PER_FILE` rows comes back as several, sorted by key.
        inserted: rows of keys no file held, sorted by key, in even chunks of at most `ROWS_PER_FILE`.
        rows_replaced: how many current rows the replacement saw.
        rows_updated: how many rows the replacement returned for keys it saw (updates, not inserts).
    """

    rewritten: list[pa.Table]
    inserted: list[pa.Table]
    rows_replaced: int
    rows_updated: int

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in [*self.rewritten, *self.inserted])


def plan_rewrite(
    table: TableId,
    schema: pa.Schema,
    key: str,
    wanted: pa.Array | None,
    touched: Sequence[pa.Table],
    replacement: Replacement,
    moved: int = 0,
    hits: Sequence[pa.ChunkedArray] | None = None,
) -> RewritePlan:
    """The shared heart of `replace_keys`: split the touched files' rows, replace, put rows back in place.

    A replaced row goes back into the file its key came from, so a file's key range never widens and
    nothing needs sorting but the new keys (and files too large, see `RewritePlan`). `wanted=None`
    replaces every row (a rebuild): all rows are then written as new, sorted by key.

    The last `moved` touched tables hold only the replaced rows of files that stay as they are (their
    old rows deleted by position, merge-on-read): those rows' replacements join the new keys' files,
    and `rewritten` holds only the other touched files.

    `hits`, when the caller has already looked the keys up (`key_hits`), tells for each touched table
    but the moved ones which of its rows hold a wanted key, so that they are not hashed again.

    Raises:
        ValueError: the replacement does not fit the schema or returns keys that were not replaced.
    """
    files = [t.select(schema.names) for t in touched]
    if wanted is None:
        kept = [schema.empty_table() for _ in files]
        matched = pa.concat_tables(files) if files else schema.empty_table()
        origin = pa.nulls(matched.num_rows, pa.int32())
    else:
        stay = files[: len(files) - moved]  # the moved tables hold replaced rows only: nothing to look up
        masks = list(hits) if hits is not None else key_hits([t.column(key) for t in stay], wanted)
        kept = [t.filter(pc.invert(m)) for t, m in zip(stay, masks, strict=True)]
        parts = [t.filter(m) for t, m in zip(stay, masks, strict=True)] + files[len(stay) :]
        matched = pa.concat_tables(parts) if parts else schema.empty_table()
        file_of = np.repeat(np.arange(len(parts), dtype=np.int32), [part.num_rows for part in parts])
        origin = pa.array(file_of, pa.int32(), mask=file_of >= len(files) - moved)  # moved rows: no file
    new = conform_to_schema(table, replacement(matched), schema)
    found = pc.index_in(new.column(key), value_set=matched.column(key))
    if wanted is not None:  # a key found among the matched rows is wanted: only the others are looked up
        unmatched = new.column(key).filter(pc.is_null(found))
        if stray := pc.sum(pc.invert(pc.is_in(unmatched, value_set=wanted))).as_py():
            raise ValueError(f"{table}: the replacement holds {stray} row(s) whose {key} was not being replaced")
    back = pc.take(origin, found)
    order = pc.sort_indices(back)  # rows of new keys (null: no file) come last
    new, back = new.take(order), back.take(order)
    counts = {c["values"]: c["counts"] for c in pc.value_counts(back).to_pylist()}
    rewritten, start = [], 0
    for index, rows in enumerate(kept):
        size = counts.get(index, 0)
        rows = pa.concat_tables([rows, new.slice(start, size)])
        # a file larger than new files are (compacted, or written before they were this small) goes
        # back as sorted key-range files, so that the next updates of its keys rewrite less
        rewritten += _key_ranges(rows, key) if rows.num_rows > ROWS_PER_FILE else [rows]
        start += size
    return RewritePlan(rewritten, _key_ranges(new.slice(start), key), matched.num_rows, len(found) - found.null_count)


def _key_ranges(rows: pa.Table, key: str) -> list[pa.Table]:
    """`rows` sorted by `key`, in as few files of at most `ROWS_PER_FILE` rows as hold them, all of one size.

    Even sizes, not full files and a remainder: a full file that gained 3 rows (SCD2 history adds a row
    per changed key) would leave a 3-row file whose footer, statistics and manifest entry every later
    rewrite pays for.
    """
    ordered = rows.sort_by(key)
    files = -(-ordered.num_rows // ROWS_PER_FILE)
    size = -(-ordered.num_rows // files) if files else 0
    return [ordered.slice(at, size) for at in range(0, ordered.num_rows, size or 1)]
