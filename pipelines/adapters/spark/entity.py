"""A silver entity's rebuild as a Spark plan: conform each event's rows on the workers, keep the newest change per key.

The conform and finish functions are the domain's own Polars code, run per Arrow batch by `mapInArrow` on the
server's Python workers (each maps a row to a row, so a batch gives what the whole table gives); the first copy of
each event, the newest change of each key and event (`max_by` on the binary version) and the join of the events'
columns per key are the server's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from pipelines.adapters.spark.compat import ship_by_value
from pipelines.core import entity_state as es
from pipelines.ports.engine import EntityRebuild, EventChanges

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.connect.session import SparkSession

    from pipelines.ports.engine import Scan

_LATEST = "__latest"
_FIRST = "__first"
_COPIES = "__copies"


def entity_frame(spark: SparkSession, rebuild: EntityRebuild, read: Callable[[Scan], DataFrame]) -> DataFrame:
    """The plan of `rebuild`'s rows; `read` gives a scan's rows (through its format's protocol)."""
    changes = {event: _mapped(_first_copies(spark, plan, read), plan.conform, plan.changes)
               for event, plan in rebuild.events.items()}  # fmt: skip
    rows = _history(rebuild, changes) if rebuild.history else _state(rebuild, changes)
    rows = rows.select(*rebuild.state.names)
    return rows if rebuild.finish is None else _mapped(rows, rebuild.finish, rebuild.schema)


def read_counts(spark: SparkSession, rebuild: EntityRebuild, read: Callable[[Scan], DataFrame]) -> tuple[int, int]:
    """The rows `rebuild` reads from its events' tables and the events among them (one per event id of a type, as
    the first copies are): one more read of those tables, of their event id column only (no domain function runs)."""
    from pyspark.sql import functions as F

    copies = [read(plan.scan).groupBy(plan.event_id).agg(F.count(F.lit(1)).alias(_COPIES)).select(_COPIES)
              for plan in rebuild.events.values() if plan.scan is not None]  # fmt: skip
    if not copies:
        return 0, 0
    counted = functools.reduce(lambda left, right: left.union(right), copies).agg(F.sum(_COPIES), F.count(F.lit(1)))
    row = counted.first()
    assert row is not None  # an aggregate without grouping has one row
    return int(row[0] or 0), int(row[1])


def _state(rebuild: EntityRebuild, changes: dict[str, DataFrame]) -> DataFrame:
    """Per key, each event's columns from its change of the highest version (`merge_state` from nothing). The
    events' newest changes are put together by grouping, not joining: a null key (an entity `key` that is not the
    events' `entity_key` can conform to null) is one key, as in a group and embedded, where a join pairs no nulls."""
    from pyspark.sql import functions as F

    latest: DataFrame | None = None
    for event in rebuild.events:
        newest = F.max_by(_own(rebuild, event), rebuild.version)
        frame = changes[event].groupBy(rebuild.key).agg(newest.alias(_carried(event)))
        frame = frame.select(rebuild.key, *_carrying(rebuild, event, F.col(_carried(event))))
        latest = frame if latest is None else latest.union(frame)
    assert latest is not None
    state = latest.groupBy(rebuild.key).agg(  # one newest change of each event a key, the other rows' are null
        *[F.first(_carried(event), ignorenulls=True).alias(_carried(event)) for event in rebuild.events]
    )
    return state.select(rebuild.key, *_carried_fields(rebuild))


def _history(rebuild: EntityRebuild, changes: dict[str, DataFrame]) -> DataFrame:
    """Per key, one row for each change in version order, each event's columns as its newest change up to that
    one set them (`replay_history` from nothing; a window's partition of the null key holds all its changes, as
    embedded). Binary columns cannot order a window on Sail: their hex text orders as their bytes do."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows: DataFrame | None = None
    for event in rebuild.events:
        frame = changes[event].select(
            rebuild.key,
            F.col(es.EVENT_TIME).alias(es.VALID_FROM),
            rebuild.version,
            F.lit(event).alias(es.EVENT),
            *_carrying(rebuild, event, _own(rebuild, event)),
        )
        rows = frame if rows is None else rows.union(frame)
    assert rows is not None
    order = Window.partitionBy(rebuild.key).orderBy(F.hex(rebuild.version))
    so_far = order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    rows = rows.select(
        rebuild.key,
        es.VALID_FROM,
        es.EVENT,
        F.lead(es.VALID_FROM).over(order).alias(es.VALID_TO),
        *[F.last(_carried(event), ignorenulls=True).over(so_far).alias(_carried(event)) for event in rebuild.events],
    )
    return rows.select(
        rebuild.key,
        *_carried_fields(rebuild),
        es.VALID_FROM,
        es.VALID_TO,
        F.col(es.VALID_TO).isNull().alias(es.IS_CURRENT),
        es.EVENT,
    )


def _carried(event: str) -> str:
    """The column carrying `event`'s owned columns and version as a struct."""
    return f"{_LATEST}_{event}"


def _own(rebuild: EntityRebuild, event: str) -> Column:
    """A change's struct of `event`'s owned columns and its version."""
    from pyspark.sql import functions as F

    plan = rebuild.events[event]
    return F.struct(*plan.owned, F.col(rebuild.version).alias(plan.version_as))


def _carrying(rebuild: EntityRebuild, event: str, own: Column) -> list[Column]:
    """Each event's carried column: `own` for `event`, a typed null for the others."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_type

    columns = []
    for other, plan in rebuild.events.items():
        kind = pa.struct([plan.changes.field(c) for c in plan.owned] + [pa.field(plan.version_as, pa.binary())])
        columns.append((own if other == event else F.lit(None).cast(from_arrow_type(kind))).alias(_carried(other)))
    return columns


def _carried_fields(rebuild: EntityRebuild) -> list[Column]:
    """Each event's owned columns and version, out of its carried struct."""
    return [c for event, plan in rebuild.events.items()
            for c in _fields(_carried(event), [*plan.owned, plan.version_as])]  # fmt: skip


def _fields(struct: str, names: Iterable[str]) -> list[Column]:
    from pyspark.sql import functions as F

    return [F.col(f"{struct}.{name}").alias(name) for name in names]


def _first_copies(spark: SparkSession, plan: EventChanges, read: Callable[[Scan], DataFrame]) -> DataFrame:
    """The event's rows, one per event id: the first copy by `plan.first_by`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    if plan.scan is None:
        return spark.createDataFrame(plan.rows.empty_table(), schema=from_arrow_schema(plan.rows))
    rows = read(plan.scan).select(*plan.rows.names)
    order = [F.col(c) for c in plan.first_by] or [F.col(plan.event_id)]
    first = F.row_number().over(Window.partitionBy(plan.event_id).orderBy(*order))
    return rows.withColumn(_FIRST, first).filter(F.col(_FIRST) == 1).drop(_FIRST)


def _mapped(frame: DataFrame, function: Callable[[pa.Table], pa.Table], schema: pa.Schema) -> DataFrame:
    """`function` over each Arrow batch of `frame` on the workers; its rows are of `schema`."""
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    declared = from_arrow_schema(schema)
    ship_by_value(function)
    return frame.mapInArrow(_per_batch(function, to_arrow_schema(declared, timezone="UTC")), declared)


def _per_batch(
    function: Callable[[pa.Table], pa.Table], schema: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield from function(pa.Table.from_batches([batch])).select(schema.names).cast(schema).to_batches()

    return run
