"""ComputeEngine: where a gold product's portable transform runs when it is not the embedded engine.

The build service decides what to read (whole inputs, or the rows of some partitions or keys) and
commits the result itself, with the watermark and the commit check of the table as it read it; an
engine only reads its inputs through their formats' protocols and computes the product's rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

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

    def compute(self, transform: Callable[..., Any], scans: list[Scan], schema: pa.Schema | None = None) -> Computed:
        """The transform's rows over `scans`, as Arrow (cast to `schema` when given).

        Raises:
            EngineError: the engine failed or could not be reached.
        """
        ...
