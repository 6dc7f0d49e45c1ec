"""The EventSource port: raw event payloads with the source positions they came from."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from pipelines.core.positions import Ledger, PositionRange

DAMAGED_PREFIX = "damaged: "
"""The reason prefix of a whole source input that could not be read (a truncated or corrupt compressed file)."""


@dataclass(frozen=True)
class RawRecord:
    """A payload a source could not frame (e.g. a truncated stream tail), kept for quarantine.

    Its reason starts with `unframed: ` (the domain's `on_unframed` decides), or with
    `DAMAGED_PREFIX` for a whole input that could not be read (always quarantined).
    """

    source: str
    offset: int
    payload: bytes
    reason: str


@dataclass
class RawBatch:
    """Consecutive payloads of one source.

    Attributes:
        source: the source's stable name (landing file path relative to the landing root, or
            `nats:<stream>`).
        range: the positions this batch covers; committing it marks them consumed.
        payloads: the event payloads, in source order (a list, or ranges of one buffer).
        offsets: the position of each payload (byte offset or stream sequence; a list, or an int64 array).
        unframed: what could not be framed into payloads; it belongs in quarantine.
    """

    source: str
    range: PositionRange
    payloads: Sequence[bytes]
    offsets: Sequence[int] | npt.NDArray[np.int64]
    unframed: list[RawRecord] = field(default_factory=list)
    ack_token: object = None


@runtime_checkable
class EventSource(Protocol):
    """Where events of one domain's event type arrive."""

    def batches(self, domain: str, event: str, ledger: Ledger) -> Iterator[RawBatch]:
        """Yield what is not yet consumed according to `ledger`, oldest first."""
        ...

    def acknowledge(self, batch: RawBatch) -> None:
        """Tell the source the batch is committed (streams ack; files need nothing)."""
        ...
