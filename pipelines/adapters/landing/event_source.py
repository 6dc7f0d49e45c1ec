"""LandingFileSource: the EventSource of landing files; each file is read once, from where it stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipelines.adapters.landing.compression import is_landing_file, read_bytes
from pipelines.core.framing import unframe
from pipelines.core.positions import Ledger, PositionRange
from pipelines.ports.event_source import RawBatch, RawRecord


class LandingFileSource:
    """Complete landing files under `<root>/<domain>/<event>/`, oldest name first.

    A source's name is its path relative to the root, so moving `MESHLAKE_HOME` keeps the ledger
    valid. Offsets are byte offsets into the uncompressed stream. A file is immutable once visible,
    so a compressed file the ledger knows of is done.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def files(self, domain: str, event: str) -> list[Path]:
        folder = self.root / domain / event
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if is_landing_file(p))

    def pending_files(self, domain: str, event: str, ledger: Ledger) -> list[Path]:
        """Files with bytes not yet consumed according to `ledger`."""
        pending = []
        for path in self.files(domain, event):
            done = ledger.consumed_until(self._name(path))
            if done == 0 or (path.suffix == ".pb" and done < path.stat().st_size):
                pending.append(path)
        return pending

    def batches(self, domain: str, event: str, ledger: Ledger) -> Iterator[RawBatch]:
        for path in self.pending_files(domain, event, ledger):
            source = self._name(path)
            data = read_bytes(path)
            start = ledger.consumed_until(source)
            if start >= len(data) and len(data) > 0:
                continue
            frames = unframe(data, start)
            unframed = []
            end = frames.end
            if frames.error is not None:
                unframed.append(
                    RawRecord(source, frames.end, bytes(data[frames.end :]), f"unframed: {frames.error.reason}")
                )
                end = len(data)
            batch = RawBatch(
                source=source,
                range=PositionRange(source, start, end),
                payloads=frames.payloads,
                offsets=frames.offsets,
                unframed=unframed,
            )
            del data, frames, unframed  # the payloads hold the file's bytes: only as long as the batch needs them
            yield batch
            del batch

    def acknowledge(self, batch: RawBatch) -> None:
        """Files need no acknowledgement: the ledger in the table is the truth."""

    def _name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()
