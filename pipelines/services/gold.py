"""Incremental gold: find the partitions the inputs' changes touch, recompute and replace only those.

A partitioned product whose spec maps every input to the column its rows are partitioned by
(`partition.sources`) is built from what its inputs changed since the versions recorded in the
product's last commit: the rows of the files they removed and added give the partitions touched
(the old rows' partitions lose rows, the new rows' gain them); each input is then read for those
partitions only (files whose statistics cannot hold them are skipped), the domain's transform runs
on those rows, and the touched partitions are replaced in one commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pyarrow as pa

from pipelines.core.names import TableId
from pipelines.core.spec import PartitionSpec
from pipelines.ports.incremental import ChangeReader, Ranges
from pipelines.ports.table_store import TableStore


@dataclass(frozen=True)
class Source:
    """An input of a product: where it lives, and the column partitioning its rows (if declared)."""

    name: str
    store: TableStore
    table: TableId
    reader: ChangeReader
    column: str | None


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
        without a source column or a recorded version, or whose changes cannot be told).
    """
    found: set[date] = set()
    upstream: dict[str, int] = {}
    scanned = 0
    for source in sources:
        after = last.get(str(source.table))
        if source.column is None:
            return None, f"partition.sources has no column for input {source.name}"
        if after is None:
            return None, f"the product was not built from {source.table} before"
        changed = source.reader.read_changed(source.table, after)
        if not changed.incremental or changed.version is None:
            return None, changed.reason or f"{source.table} has no version"
        upstream[str(source.table)] = changed.version
        scanned += changed.rows_scanned
        for rows in differing_rows(changed.removed, changed.added):
            values = partition_values(rows[source.column], partition.period)
            found.update(values.drop_nulls().unique().to_list())
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


def read_partitions(source: Source, partitions: list[date], period: str) -> tuple[pl.DataFrame, int]:
    """The input's rows in `partitions` (by its source column) and the rows read to find them."""
    assert source.column is not None
    type_ = source.store.schema(source.table).field(source.column).type
    ranged = source.reader.read_ranges(source.table, source.column, ranges_of(partitions, period, type_))
    frame = pl.from_arrow(ranged.data)
    assert isinstance(frame, pl.DataFrame)
    return frame, ranged.rows_scanned


def in_partitions(frame: pl.DataFrame, column: str, partitions: list[date], period: str) -> pl.DataFrame:
    """The rows of a built product that belong to `partitions`."""
    return frame.filter(partition_values(frame[column], period).is_in(pl.Series(partitions, dtype=pl.Date).implode()))
