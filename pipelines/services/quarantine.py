"""The quarantine table: every rejected event with its raw bytes, reason and source position."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("event", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("payload", pa.binary(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("schema_version", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("quarantined_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


@dataclass(frozen=True)
class Rejected:
    """One rejected input: what, where from, and why."""

    source: str
    offset: int
    payload: bytes
    reason: str


def quarantine_rows(event: str, rejected: list[Rejected], schema_version: str, run_id: str, at: datetime) -> pa.Table:
    """Rows for the quarantine table."""
    n = len(rejected)
    return pa.table(
        {
            "event": [event] * n,
            "source": [r.source for r in rejected],
            "offset": [r.offset for r in rejected],
            "payload": [r.payload for r in rejected],
            "reason": [r.reason for r in rejected],
            "schema_version": [schema_version] * n,
            "run_id": [run_id] * n,
            "quarantined_at": [at] * n,
        },
        schema=QUARANTINE_SCHEMA,
    )
