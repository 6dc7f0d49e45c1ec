"""The quarantine table: every rejected event with its raw bytes, reason and source position."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

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

QUARANTINE_KEY = ("event", "source", "offset")
"""The columns naming a quarantined input: each (event, source, offset) is quarantined at most once."""


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


def reason_kind(reason: str) -> str:
    """A reason with its free-standing numbers replaced by `N`, to count rejects of the same kind together."""
    return re.sub(r"(?<![\w.])\d+(?![\w.])", "N", reason)


def select_rows(rows: pa.Table, event: str | None = None, reason_prefix: str | None = None) -> pa.Table:
    """The quarantine rows of one event type (all when None) whose reason starts with `reason_prefix`."""
    if event is not None:
        rows = rows.filter(pc.equal(rows.column("event"), event))
    if reason_prefix:
        rows = rows.filter(pc.starts_with(rows.column("reason"), reason_prefix))
    return rows


def count_by_reason(rows: pa.Table) -> list[tuple[str, str, int]]:
    """`(event, reason kind, count)` of quarantine rows, most frequent first."""
    counts = Counter(
        (event, reason_kind(reason))
        for event, reason in zip(rows.column("event").to_pylist(), rows.column("reason").to_pylist(), strict=True)
    )
    return sorted(((e, r, n) for (e, r), n in counts.items()), key=lambda item: (-item[2], item[0], item[1]))
