"""ComputeEngine: where a gold product's portable transform, or a silver rebuild, runs when not on the embedded engine.

The build service decides what to read (whole inputs, or the rows of some partitions or keys) and
commits the result itself, with the watermark and the commit check of the table as it read it; an
engine only reads its inputs through their formats' protocols and computes the product's rows. An
engine that is also a `KeyedWriter` commits a keyed product's changed rows itself, through the format's
own protocol, with the watermark the build gives it in the same commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from pipelines.core.commits import TableFormat
from pipelines.core.names import TableId
from pipelines.ports.incremental import Ranges


class EngineError(Exception):
    """The engine failed (unreachable, stopped mid-build, refused a read); the message says which and where."""


@dataclass(frozen=True)
class Scan:
    """One input of a computation.

    Attributes:
        name: the transform's parameter it is passed as.
        table: the table, read by name (Iceberg, through the REST catalog) or at `location` (Delta).
        version: the version the build records as read, which the engine reads (None: the current one).
        column, ranges: only the rows whose `column` falls in one of the half-open `ranges`.
        keys_from: only the rows whose `column` is a value of that column in the rows of the scan named so.
    """

    name: str
    table: TableId
    format: TableFormat
    location: str
    version: int | None = None
    column: str | None = None
    ranges: Ranges | None = None
    keys_from: str | None = None


@dataclass(frozen=True)
class Computed:
    """A transform's result and how the engine got it (its session's metrics).

    Attributes:
        rows_scanned: of an entity's rebuild, the rows it read from its events' tables; None when not counted.
        events_read: of an entity's rebuild, the events among them (the first copy of each); None when not counted.
    """

    data: pa.Table
    metrics: dict[str, Any] = field(default_factory=dict)
    rows_scanned: int | None = None
    events_read: int | None = None


class ComputeEngine(Protocol):
    """Runs a portable transform (see `pipelines.core.engine`) over scans of its inputs."""

    name: str

    def compute(
        self,
        transform: Callable[..., Any],
        scans: list[Scan],
        schema: pa.Schema | None = None,
        product: TableId | None = None,
    ) -> Computed:
        """The transform's rows over `scans`, as Arrow (cast to `schema` when given); `product`, the product
        they are, is named in errors.

        Raises:
            EngineError: the engine failed, could not be reached, or did not finish by its deadline.
        """
        ...


@dataclass(frozen=True)
class KeyedTarget:
    """A keyed table an engine brings to a transform's rows by replacing the rows of the keys that differ.

    Attributes:
        table, location: the table and its root (a Delta table, written at its location).
        version: the table's version the build planned on; the engine compares the rows against it.
        key: the one key column.
        schema: the table's columns; the transform's rows are cast to them.
        properties: the `meshlake.*` properties the commit records (the watermark, the run).
        ranges: given, the engine compares nothing: it replaces every row whose `key` falls in one of these
            half-open ranges (the partitions a build recomputes) with the transform's rows there.
    """

    table: TableId
    location: str
    version: int
    key: str
    schema: pa.Schema
    properties: Mapping[str, str]
    ranges: Ranges | None = None


@dataclass(frozen=True)
class KeyedWrite:
    """What a `KeyedWriter` did: the keys (or ranges) whose rows it replaced (0: it committed nothing), the
    engine's metrics."""

    keys_changed: int
    metrics: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class KeyedWriter(Protocol):
    """An engine that commits a keyed product itself, with the build's properties in the same commit."""

    def write_keys(self, transform: Callable[..., Any], scans: list[Scan], target: KeyedTarget) -> KeyedWrite | None:
        """Compute the transform over `scans` and replace the target's rows of every key whose rows differ
        from the transform's (or in `target.ranges`), in one commit recording `target.properties`; no commit
        when none differ (or no range is given).

        Returns:
            What it wrote, or None when the transform's columns are not the table's (nothing is written).

        Raises:
            EngineError: the engine failed, could not be reached, refused the write, or did not finish by its
                deadline (having committed nothing).
        """
        ...


@dataclass(frozen=True)
class EventChanges:
    """How one event type's rows become an entity's change rows, for an engine to run on its workers.

    Attributes:
        scan: the event's table at the version the build records; None: there is none yet (no rows).
        rows: the table's columns as `conform` takes them (the engine's rows are cast to them).
        event_id: the event id column: one row per id is kept, the first by `first_by`.
        first_by: the columns (dotted paths into structs) that order copies of an event: the first is kept.
        conform: rows of this event (Arrow) → its change rows (Arrow, of `changes`), row for row; a picklable
            callable (the engine sends it to its workers).
        changes: the change rows' columns: the key, the columns this event owns, the version.
        owned: the columns this event owns; the newest change of a key (by `EntityRebuild.version`) sets them.
        version_as: the state column holding the version of that change.
    """

    scan: Scan | None
    rows: pa.Schema
    event_id: str
    first_by: tuple[str, ...]
    conform: Callable[[pa.Table], pa.Table]
    changes: pa.Schema
    owned: tuple[str, ...]
    version_as: str


@dataclass(frozen=True)
class EntityRebuild:
    """A silver entity's state rebuilt from all of its events: per key and event type, the owned columns of
    the change of the highest version, then `finish` row by row.

    Attributes:
        table: the silver table built (named in errors).
        key: the entity key column.
        version: the change rows' version column (binary: compared as unsigned bytes).
        events: per event type, how its rows become changes.
        state: the state's columns (the key, then each event's owned columns and `version_as`), as `finish`
            takes them.
        finish: state rows (Arrow) → the table's rows (Arrow, of `schema`), row for row; None: the state as it is.
        schema: the table's columns.
        history: the SCD2 history instead (`pipelines.core.entity_state.replay_history`): per key, one row for each
            change in version order, holding each event's columns as its newest change up to that one set them,
            with `valid_from` (the change's event time), `valid_to` (the next change's), `is_current` and `_event`.
    """

    table: TableId
    key: str
    version: str
    events: Mapping[str, EventChanges]
    state: pa.Schema
    finish: Callable[[pa.Table], pa.Table] | None
    schema: pa.Schema
    history: bool = False


@runtime_checkable
class EntityEngine(Protocol):
    """An engine that rebuilds a silver entity's state, or its history, from all of its events (see `EntityRebuild`)."""

    def rebuild_entity(self, rebuild: EntityRebuild) -> Computed:
        """The state rows of every key, as Arrow of `rebuild.schema`'s columns (types as the engine gives them), with
        the rows of the events' tables read and the events among them (`rows_scanned`, `events_read`: an embedded
        rebuild's counts).

        Raises:
            EngineError: the engine failed, could not be reached, or did not finish by its deadline.
        """
        ...
