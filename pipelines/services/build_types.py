"""What builds are asked for and return: a gold run's partition window, a silver or gold build's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from pipelines.core.names import TableId


@dataclass(frozen=True)
class BuildResult:
    """What a silver or gold build committed; `details` says how (rows scanned, keys changed, ...)."""

    table: TableId
    rows: int
    version: int
    upstream: dict[str, int]
    schema: pa.Schema
    location: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionWindow:
    """The partitions of a gold run: values of the partition column in `[start, end)`.

    `complete` says the window spans every partition of the product, so the whole table is replaced.
    """

    start: date
    end: date
    period: str = "day"
    complete: bool = False

    def values(self) -> list[date]:
        """Each partition's value (the day, or the Monday of the week) in the window."""
        step = timedelta(days=7 if self.period == "week" else 1)
        out, value = [], self.start
        while value < self.end:
            out.append(value)
            value += step
        return out
