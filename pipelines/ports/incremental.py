"""Capabilities beyond TableStore for incremental pipelines: read what was appended, rewrite rows by key.

Each is its own Protocol, implemented per format next to its TableStore (`adapters/<format>/incremental.py`)
and looked up through the runtime, so a format can offer one without the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pyarrow as pa

from pipelines.core.commits import Commit
from pipelines.core.names import TableId

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


Replacement = Callable[[pa.Table], pa.Table]
"""Given the current rows of the keys being replaced, the rows that take their place."""


@runtime_checkable
class KeyedRewriter(Protocol):
    """Replaces the rows of some keys in one atomic commit, rewriting only the files that hold them."""

    def replace_keys(
        self,
        table: TableId,
        key: str,
        keys: pa.Array,
        replacement: Replacement,
        properties: Mapping[str, str] | None = None,
    ) -> Rewrite:
        """Replace every row whose `key` is in `keys` by `replacement(those rows)`.

        Files whose key range (statistics) cannot hold a key are not read; files holding none of the
        keys are kept as they are; the others are rewritten without the replaced rows. New rows are
        written sorted by `key`, so that later rewrites of nearby keys touch few files.

        Args:
            table: an existing table; `key` is one of its top-level columns.
            key: the column identifying rows.
            keys: the key values to replace (duplicates allowed).
            replacement: called once with the current rows of those keys (possibly empty); returns
                rows of the table's schema (any keys: rows for keys not in `keys` are added).
            properties: `meshlake.*` properties stored in the same commit.

        Returns:
            The rewrite's counts and commit (None when there was nothing to write or delete).

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: the replacement rows do not fit the table's schema, or the key is unknown.
        """
        ...


@runtime_checkable
class IncrementalTables(AppendReader, KeyedRewriter, Protocol):
    """Both incremental capabilities, as every built-in format offers them."""


def key_set(keys: pa.Array | pa.ChunkedArray, type_: pa.DataType) -> pa.Array:
    """The distinct `keys`, cast to the key column's type, as one array."""
    unique = pa.chunked_array([keys] if isinstance(keys, pa.Array) else keys.chunks, keys.type).unique()
    return unique.cast(type_)
