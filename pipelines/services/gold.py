"""Incremental gold: find the partitions the inputs' changes touch, recompute and replace only those.

A partitioned product whose spec maps every input to its partitions (`partition.sources`) is built
from what its inputs changed since the versions recorded in the product's last commit: the rows of
the files they removed and added give the partitions touched (the old rows' partitions lose rows,
the new rows' gain them). An input mapped to a column gives them directly; an input mapped by a key
lookup (returns carry their order's id, not its day) gives keys, whose partitions are those of the
`via` input's rows with that key, read by key (files whose key statistics cannot hold one are
skipped). Each input is then read for those partitions only, the domain's transform runs on those
rows, and the touched partitions are replaced in one commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa

from pipelines.core.names import TableId
from pipelines.core.spec import KeyLookup, PartitionSpec
from pipelines.ports.incremental import ChangeReader, Ranges
from pipelines.ports.table_store import TableStore

MAX_POINT_RANGES = 256
"""Keys looked up one range each up to this many; more are read as one range from the least to the greatest."""


@dataclass(frozen=True)
class Source:
    """An input of a product: where it lives, and how its rows map to partitions (if declared).

    `ref` names it in the spec (`silver.orders`), `name` in the transform's parameters (`orders`).
    """

    ref: str
    name: str
    store: TableStore
    table: TableId
    reader: ChangeReader
    mapping: str | KeyLookup | None

    @property
    def column(self) -> str | None:
        """The input's column whose date is its rows' partition, if mapped to a column."""
        return self.mapping if isinstance(self.mapping, str) else None


@dataclass(frozen=True)
class Touched:
    """The partitions a run recomputes, the input versions it read up to, and the rows it read to find them."""

    partitions: list[date]
    upstream: dict[str, int]
    rows_scanned: int


def partition_values(values: pl.Series, period: str) -> pl.Series:
    """The partition (the day, or the Monday of the week) of each date or timestamp in `values`."""
    if values.dtype == pl.Datetime:
        values = values.dt.convert_time_zone("UTC") if getattr(values.dtype, "time_zone", None) else values
        values = values.dt.date()
    return values.dt.truncate("1w") if period == "week" else values


def touched_partitions(
    sources: list[Source], last: Mapping[str, int], partition: PartitionSpec
) -> tuple[Touched | None, str]:
    """What changed in each input since the version in `last`, as partitions of the product.

    Returns:
        The touched partitions, or None and the reason the run must read everything (an input
        without a mapping or a recorded version, or whose changes cannot be told).
    """
    by_ref = {source.ref: source for source in sources}
    found: set[date] = set()
    upstream: dict[str, int] = {}
    scanned = 0
    for source in sources:
        after = last.get(str(source.table))
        if source.mapping is None:
            return None, f"partition.sources does not map input {source.ref}"
        if after is None:
            return None, f"the product was not built from {source.table} before"
        changed = source.reader.read_changed(source.table, after)
        if not changed.incremental or changed.version is None:
            return None, changed.reason or f"{source.table} has no version"
        upstream[str(source.table)] = changed.version
        scanned += changed.rows_scanned
        rows = pl.concat(differing_rows(changed.removed, changed.added), how="diagonal_relaxed")
        if isinstance(source.mapping, KeyLookup):  # the partitions of the `via` rows with the changed keys
            via = by_ref[source.mapping.via]
            rows, read = read_keys(via, source.mapping.key, rows[source.mapping.key])
            scanned += read
        column = by_ref[source.mapping.via].column if isinstance(source.mapping, KeyLookup) else source.column
        assert column is not None
        found.update(partition_values(rows[column], partition.period).drop_nulls().unique().to_list())
    return Touched(sorted(found), upstream, scanned), ""


def differing_rows(removed: pa.Table, added: pa.Table) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The removed rows not added back unchanged, and the added rows that were not there before.

    A rewritten file is removed and added whole; the rows it kept as they were change no partition.
    """
    old, new = pl.from_arrow(removed), pl.from_arrow(added)
    assert isinstance(old, pl.DataFrame) and isinstance(new, pl.DataFrame)
    nested = any(isinstance(t, pl.List | pl.Struct | pl.Array) for t in old.schema.values())
    if not old.height or not new.height or nested:  # nested columns: every row counts as changed
        return old, new
    return (
        old.join(new, on=old.columns, how="anti", nulls_equal=True),
        new.join(old, on=old.columns, how="anti", nulls_equal=True),
    )


def ranges_of(partitions: list[date], period: str, type_: pa.DataType) -> Ranges:
    """Half-open ranges of a column of `type_` covering `partitions`, adjacent ones merged."""
    step = timedelta(days=7 if period == "week" else 1)
    merged: list[list[date]] = []
    for value in partitions:
        if merged and merged[-1][1] == value:
            merged[-1][1] = value + step
        else:
            merged.append([value, value + step])
    if pa.types.is_timestamp(type_):
        tz = UTC if type_.tz else None
        return [
            (datetime.combine(a, datetime.min.time(), tz), datetime.combine(b, datetime.min.time(), tz))
            for a, b in merged
        ]
    return [(a, b) for a, b in merged]


def point_ranges(keys: list[Any]) -> Ranges:
    """Half-open ranges holding exactly `keys` (sorted, distinct): one per key, or one over all of them.

    Raises:
        TypeError: the keys are neither strings nor integers.
    """
    if not keys:
        return []
    if len(keys) > MAX_POINT_RANGES:
        return [(keys[0], _successor(keys[-1]))]
    return [(key, _successor(key)) for key in keys]


def _successor(key: Any) -> Any:
    """The least value greater than `key`."""
    if isinstance(key, str):
        return key + "\0"
    if isinstance(key, int):
        return key + 1
    raise TypeError(f"partitions can be looked up by string or integer keys, not {type(key).__name__}")


def read_keys(source: Source, column: str, keys: pl.Series) -> tuple[pl.DataFrame, int]:
    """The input's rows whose `column` is one of `keys`, and the rows read to find them."""
    wanted = keys.drop_nulls().unique().sort()
    ranged = source.reader.read_ranges(source.table, column, point_ranges(wanted.to_list()))
    frame = pl.from_arrow(ranged.data)
    assert isinstance(frame, pl.DataFrame)
    return frame.filter(pl.col(column).is_in(wanted.implode())), ranged.rows_scanned


def mapped(sources: list[Source]) -> bool:
    """Whether every input says which partitions its rows belong to."""
    return all(source.mapping is not None for source in sources)


def read_partitions(sources: list[Source], partitions: list[date], period: str) -> tuple[dict[str, pl.DataFrame], int]:
    """Each input's rows in `partitions` (see `mapped`), by input `ref`, and the rows read to find them.

    An input mapped to a column is read by ranges of it; one mapped by a key lookup, by the keys of
    the `via` input's rows in those partitions.
    """
    frames: dict[str, pl.DataFrame] = {}
    scanned = 0
    for source in sorted(sources, key=lambda s: isinstance(s.mapping, KeyLookup)):  # columns first
        if isinstance(source.mapping, KeyLookup):
            keys = frames[source.mapping.via][source.mapping.key]
            frames[source.ref], read = read_keys(source, source.mapping.key, keys)
        else:
            assert source.column is not None
            type_ = source.store.schema(source.table).field(source.column).type
            ranged = source.reader.read_ranges(source.table, source.column, ranges_of(partitions, period, type_))
            frame = pl.from_arrow(ranged.data)
            assert isinstance(frame, pl.DataFrame)
            frames[source.ref], read = frame, ranged.rows_scanned
        scanned += read
    return frames, scanned


def in_partitions(frame: pl.DataFrame, column: str, partitions: list[date], period: str) -> pl.DataFrame:
    """The rows of a built product that belong to `partitions`."""
    return frame.filter(partition_values(frame[column], period).is_in(pl.Series(partitions, dtype=pl.Date).implode()))
