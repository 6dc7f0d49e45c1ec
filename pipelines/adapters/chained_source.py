"""One EventSource over several: landing files first, then streams; acks go back to the batch's source."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pipelines.core.positions import Ledger
from pipelines.ports.event_source import EventSource, RawBatch


class ChainedEventSource:
    """Reads each source in turn. Their position names never overlap (`orders/...` vs `nats:...`),
    so one ledger serves all of them."""

    def __init__(self, sources: Sequence[EventSource]) -> None:
        self.sources = list(sources)
        self._owners: dict[int, EventSource] = {}

    def batches(self, domain: str, event: str, ledger: Ledger) -> Iterator[RawBatch]:
        for source in self.sources:
            for batch in source.batches(domain, event, ledger):
                self._owners[id(batch)] = source
                yield batch

    def acknowledge(self, batch: RawBatch) -> None:
        self._owners.pop(id(batch)).acknowledge(batch)
