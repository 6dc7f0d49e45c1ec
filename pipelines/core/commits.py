"""What a table commit is: a version plus the properties written atomically with the data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class TableFormat(StrEnum):
    """The open table formats a table can live in."""

    ICEBERG = "iceberg"
    DELTA = "delta"
    MEMORY = "memory"


@dataclass(frozen=True)
class Commit:
    """One commit of a table.

    Attributes:
        version: Iceberg snapshot id or Delta table version; increases with every commit for Delta,
            is an opaque id for Iceberg (use `sequence` to order).
        sequence: 1-based position of the commit in the table's history.
        timestamp_ms: commit time, milliseconds since the epoch (UTC).
        properties: the `meshlake.*` properties stored in the same atomic commit (Iceberg snapshot
            summary, Delta commit metadata).
        stats: what the commit did as its table recorded it, where it did: `rows_added`,
            `rows_updated`, `rows_deleted`, `files_added`, `files_removed`, `bytes_added` (Iceberg
            snapshot summary, Delta operation metrics). Not part of a commit's identity.
    """

    version: int
    sequence: int
    timestamp_ms: int
    properties: Mapping[str, str] = field(default_factory=dict)
    stats: Mapping[str, int] = field(default_factory=dict, compare=False)


def properties_text(properties: Mapping[str, str]) -> str:
    """Commit properties as one JSON object: how a writer that records a single string per commit (an
    engine's Delta write, in `commitInfo.userMetadata`) stores them; `properties_in` reads them back."""
    return json.dumps(dict(sorted(properties.items())), separators=(",", ":"))


def properties_in(text: object, prefix: str) -> dict[str, str]:
    """The properties whose names start with `prefix` in a `properties_text`; none from any other text."""
    if not isinstance(text, str) or not text.startswith("{"):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {k: str(v) for k, v in value.items() if isinstance(k, str) and k.startswith(prefix)}
