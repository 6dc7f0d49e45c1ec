"""ComputeEngine: where a gold product's portable transform runs when it is not the embedded engine.

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
    """A transform's result and how the engine got it (its session's metrics)."""

    data: pa.Table
    metrics: dict[str, Any] = field(default_factory=dict)


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
