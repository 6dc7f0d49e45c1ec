"""An event type's contract: its protobuf message, Arrow schema, options and schema version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.message import Message

INGEST_COLUMN = "_ingest"
INGEST_TYPE = pa.struct(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("schema_version", pa.string(), nullable=False),
    ]
)


@dataclass(frozen=True)
class EventContract:
    """What an event type promises, taken from its .proto.

    Attributes:
        message: full protobuf message name.
        message_class: the runtime-compiled message class.
        schema: the Arrow schema of the decoded event (field ids = proto field numbers).
        event_id: field holding the event id; None when the .proto does not say.
        entity_key: field holding the entity key.
        event_time: Timestamp field holding when the event happened.
        partition: partition transform of bronze, e.g. `day(placed_at)`.
        schema_version: fingerprint of the message descriptor.
        pii: field name -> PII class, for fields the .proto classifies.
    """

    message: str
    message_class: type[Message]
    schema: pa.Schema
    event_id: str | None = None
    entity_key: str | None = None
    event_time: str | None = None
    partition: str | None = None
    schema_version: str = ""
    pii: Mapping[str, str] = field(default_factory=dict)

    def bronze_schema(self) -> pa.Schema:
        """The event's columns plus the `_ingest` metadata struct."""
        return self.schema.append(pa.field(INGEST_COLUMN, INGEST_TYPE, nullable=False))

    def partition_field(self) -> tuple[str, str] | None:
        """`(column, transform)` parsed from `partition` (`day(placed_at)` → `("placed_at", "day")`)."""
        if not self.partition:
            return None
        transform, _, rest = self.partition.partition("(")
        column = rest.rstrip(")").strip()
        if not column or transform not in {"identity", "day", "month", "year"}:
            raise ValueError(f"{self.message}: partition {self.partition!r} must look like day(<field>)")
        return column, transform


def contract_violations(
    table: pa.Table, contract: EventContract, now: datetime, max_future: timedelta
) -> dict[int, str]:
    """The rows that break the contract (missing id/key, event time unset or in the future), each with its first reason.

    Every check is one kernel over the whole column; only the (few) breaking rows become Python
    objects, so a clean batch costs no work per row.
    """
    reasons: dict[int, str] = {}
    checks: list[tuple[pa.ChunkedArray, str]] = []
    for name in (contract.event_id, contract.entity_key):
        if name:
            column = table.column(name)
            missing = pc.is_null(column)
            if _is_text(column.type):  # string or bytes: empty is missing (never cast: bytes need not be UTF-8)
                missing = pc.or_kleene(missing, pc.equal(pc.binary_length(column), 0))
            checks.append((missing, f"contract: {name} is missing"))
    if contract.event_time:
        times = table.column(contract.event_time)
        checks.append((pc.is_null(times), f"contract: {contract.event_time} is unset"))
        limit = pa.scalar(now + max_future, type=pa.timestamp("us", tz="UTC"))
        checks.append(
            (
                pc.fill_null(pc.greater(times, limit), False),
                f"contract: {contract.event_time} is more than {max_future} in the future",
            )
        )
    for mask, reason in checks:
        for index in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
            reasons.setdefault(index, reason)
    return reasons


def _is_text(type_: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or pa.types.is_binary(type_)
        or pa.types.is_large_binary(type_)
    )
