"""Silver rebuilds on an engine: the domain's conform and finish functions in a form an engine's workers run
(picklable, on Arrow batches), and the plan of an entity's state or SCD2 history rebuilt from all of bronze."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from pipelines.core import entity_state as es
from pipelines.core.domain import Domain
from pipelines.core.event_contract import INGEST_COLUMN, EventContract
from pipelines.core.names import Layer
from pipelines.ports.engine import EntityEngine, EntityRebuild, EventChanges, Scan

if TYPE_CHECKING:
    from pipelines.services.silver import SilverTables


@dataclass(frozen=True)
class Conform:
    """One event type's bronze rows → versioned change rows: deduplicated by event id, conformed by the domain's
    function, with the change's version. Picklable: an engine runs it on its workers, batch by batch."""

    domain: str
    name: str
    function: Callable[[pl.DataFrame], pl.DataFrame]
    event_id: str
    event_time: str
    sequence: str | None

    def __call__(self, rows: pl.DataFrame) -> pl.DataFrame:
        first = rows[self.event_id].is_first_distinct()  # 3x quicker than `unique`, which gathers every column
        rows = rows if first.all() else rows.filter(first)
        conformed = self.function(rows)
        if conformed.height != rows.height:
            raise ValueError(
                f"{self.domain}: {self.name} returned {conformed.height} rows for {rows.height} events; "
                "a conform function maps each event to exactly one row"
            )
        sequence = self.sequence
        seq = (
            rows[sequence].cast(pl.Int64)
            if sequence and sequence in rows.columns
            else pl.zeros(rows.height, pl.Int64, eager=True)
        )
        return es.with_versions(
            conformed.with_columns(
                rows[self.event_time].alias(es.EVENT_TIME),
                seq.cast(pl.Int64).alias(es.SEQUENCE),
                rows[self.event_id].alias(es.EVENT_ID),
            )
        )


def conformer(domain: Domain, entity: str, event: str, contract: EventContract) -> Conform:
    """How the entity's conform function of `event` turns its bronze rows into changes.

    Raises:
        ValueError: the event's .proto names no event id or event time.
    """
    if not (contract.event_id and contract.event_time):
        raise ValueError(f"{contract.message}: silver needs the event_id and event_time options of (meshlake.event)")
    spec = domain.spec.entities[entity]
    function = spec.events[event]
    return Conform(
        domain.name, function, domain.transforms[function], contract.event_id, contract.event_time, spec.sequence
    )


@dataclass(frozen=True)
class Finish:
    """The entity's `transform`: state rows → the same rows with derived columns. Picklable (see `Conform`)."""

    domain: str
    name: str
    function: Callable[[pl.DataFrame], pl.DataFrame]

    def __call__(self, frame: pl.DataFrame) -> pl.DataFrame:
        finished = self.function(frame)
        if finished.height != frame.height:
            raise ValueError(f"{self.domain}: {self.name} must derive columns row by row, not add or drop rows")
        return finished


@dataclass(frozen=True)
class OnArrow:
    """A function of Polars frames as one of Arrow tables, whose columns are first cast to `rows` (the types the
    function gets when it runs here). Picklable (see `Conform`)."""

    function: Callable[[pl.DataFrame], pl.DataFrame]
    rows: pa.Schema

    def __call__(self, table: pa.Table) -> pa.Table:
        return self.function(as_frame(table.select(self.rows.names).cast(self.rows))).to_arrow()


def finisher(domain: Domain, entity: str) -> Finish | None:
    """The entity's `transform`, or None when it has none."""
    name = domain.spec.entities[entity].transform
    return Finish(domain.name, name, domain.transforms[name]) if name else None


def finish_rows(domain: Domain, entity: str, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with the entity's derived columns (itself when it has no `transform`)."""
    finish = finisher(domain, entity)
    return frame if finish is None else finish(frame)


INGEST_ORDER = tuple(f"{INGEST_COLUMN}.{name}" for name in ("ingested_at", "source", "offset"))
"""The order of copies of one event in bronze (its first copy is the one a rebuild keeps): as they were ingested."""


@dataclass(frozen=True)
class Rebuilt:
    """An entity's state rebuilt by an engine: its rows, the bronze versions it read, the engine's metrics, and the
    bronze rows and events it read (None: the engine does not count them)."""

    rows: pl.DataFrame
    upstream: dict[str, int]
    metrics: dict[str, Any]
    rows_scanned: int | None = None
    events_read: int | None = None


def rebuild_on_engine(
    domain: Domain, entity: str, runtime: SilverTables, engine: EntityEngine, key: str, history: bool = False
) -> Rebuilt:
    """The entity's state (or its SCD2 history) from all of bronze, computed by `engine` with the domain's own
    conform and finish functions: the rows (and types) the embedded rebuild gives, at the bronze versions it records.

    Raises:
        EngineError: the engine failed; nothing is committed.
    """
    bronze = runtime.store_for(domain.name, Layer.BRONZE)
    spec = domain.spec.entities[entity]
    events: dict[str, EventChanges] = {}
    empty: dict[str, pl.DataFrame] = {}
    upstream: dict[str, int] = {}
    for event in spec.events:
        contract = runtime.contract(domain.name, event)
        table = domain.bronze_table(event)
        conform = conformer(domain, entity, event, contract)
        scan, rows = None, contract.bronze_schema()
        if bronze.exists(table):
            commits = bronze.history(table)
            version = commits[-1].version if commits else None
            scan = Scan(event, table, bronze.format, bronze.location(table), version)
            rows = bronze.schema(table)
            if version is not None:
                upstream[str(table)] = version
        empty[event] = conform(as_frame(rows.empty_table()))
        first_by = INGEST_ORDER if INGEST_COLUMN in rows.names else ()
        changes = empty[event].to_arrow().schema
        events[event] = EventChanges(
            scan, rows, conform.event_id, first_by, OnArrow(conform, rows), changes, (), es.version_column(event)
        )
    for event, owned in es.owned_columns(empty, key).items():
        events[event] = dataclasses.replace(events[event], owned=tuple(owned))
    state = es.replay_history(pl.DataFrame(), empty, key) if history else es.merge_state(pl.DataFrame(), empty, key)
    finish = finisher(domain, entity)
    schema = finish_rows(domain, entity, state).schema
    state_rows = state.to_arrow().schema
    rebuild = EntityRebuild(
        domain.history_table(entity) if history else domain.silver_table(entity),
        key,
        es.VERSION,
        events,
        state_rows,
        None if finish is None else OnArrow(finish, state_rows),
        pl.DataFrame(schema=schema).to_arrow().schema,
        history,
    )
    computed = engine.rebuild_entity(rebuild)
    rows = as_frame(computed.data).select(schema.names()).cast(schema)
    return Rebuilt(rows, upstream, computed.metrics, computed.rows_scanned, computed.events_read)


def as_frame(data: pa.Table) -> pl.DataFrame:
    """`data` as a Polars frame."""
    rows = pl.from_arrow(data)
    assert isinstance(rows, pl.DataFrame)
    return rows
