"""The event log: one row per thing that happened to a domain's tables, in the schema of `<domain>.event_log`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import pyarrow as pa


class EventKind(StrEnum):
    """What an event log row records."""

    RUN_STARTED = "run_started"
    RUN_FINISHED = "run_finished"
    RUN_FAILED = "run_failed"
    COMMIT = "commit"
    QUARANTINE = "quarantine"
    EXPECTATION = "expectation"
    PUBLISH = "publish"
    REFUSAL = "refusal"
    SCHEMA_EVOLUTION = "schema_evolution"
    MAINTENANCE = "maintenance"


EVENT_LOG_SCHEMA = pa.schema(
    [
        pa.field("happened_at", pa.timestamp("us", tz="UTC"), nullable=False, metadata={"doc": "When it happened"}),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False, metadata={"doc": "The run (Dagster run id) it happened in"}),
        pa.field("asset", pa.string(), nullable=False, metadata={"doc": "The asset or job step: domain/layer/name"}),
        pa.field("kind", pa.string(), nullable=False, metadata={"doc": "One of EventKind"}),
        pa.field("table_name", pa.string(), metadata={"doc": "The table, <domain>.<name>"}),
        pa.field("version", pa.int64(), metadata={"doc": "The table version (Iceberg snapshot id, Delta version)"}),
        pa.field("rows", pa.int64(), metadata={"doc": "Rows in the table after the commit"}),
        pa.field("rows_added", pa.int64()),
        pa.field("rows_updated", pa.int64()),
        pa.field("rows_deleted", pa.int64()),
        pa.field("files_added", pa.int64()),
        pa.field("files_removed", pa.int64()),
        pa.field("bytes_added", pa.int64()),
        pa.field("duration_ms", pa.int64(), metadata={"doc": "How long the run or commit took"}),
        pa.field("check_name", pa.string(), metadata={"doc": "The expectation's check"}),
        pa.field("severity", pa.string(), metadata={"doc": "error or warn"}),
        pa.field("passed", pa.bool_()),
        pa.field("observed", pa.float64(), metadata={"doc": "The expectation's observed value (failing rows)"}),
        pa.field("message", pa.string(), metadata={"doc": "Why a run failed or a publish was refused"}),
        pa.field("detail", pa.string(), metadata={"doc": "Everything else, as a JSON object"}),
    ]
)


@dataclass(frozen=True)
class Event:
    """One row of the event log (see `EVENT_LOG_SCHEMA`; the table columns are `table_name`, `check_name`)."""

    happened_at: datetime
    domain: str
    run_id: str
    asset: str
    kind: EventKind
    table: str | None = None
    version: int | None = None
    rows: int | None = None
    rows_added: int | None = None
    rows_updated: int | None = None
    rows_deleted: int | None = None
    files_added: int | None = None
    files_removed: int | None = None
    bytes_added: int | None = None
    duration_ms: int | None = None
    check: str | None = None
    severity: str | None = None
    passed: bool | None = None
    observed: float | None = None
    message: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The event as a row of `EVENT_LOG_SCHEMA`."""
        values = {name: getattr(self, name) for name in _PLAIN}
        return values | {
            "kind": str(self.kind),
            "table_name": self.table,
            "check_name": self.check,
            "detail": json.dumps(dict(self.detail), sort_keys=True, default=str) if self.detail else None,
        }


_PLAIN = [n for n in EVENT_LOG_SCHEMA.names if n not in ("kind", "table_name", "check_name", "detail")]


def event_rows(events: Sequence[Event]) -> pa.Table:
    """The events as rows of the event log."""
    return pa.Table.from_pylist([e.row() for e in events], schema=EVENT_LOG_SCHEMA)
