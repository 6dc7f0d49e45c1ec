"""LandingFileSource: the EventSource of landing files; each file is read once, from where it stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pipelines.adapters.landing.compression import decompress, is_landing_name, map_file
from pipelines.adapters.landing.files import LandingFile
from pipelines.adapters.storage import Location, as_location
from pipelines.core.framing import unframe
from pipelines.core.positions import Ledger, PositionRange
from pipelines.ports.event_source import RawBatch, RawRecord


class LandingFileSource:
    """Complete landing files under `<root>/<domain>/<event>/`, oldest name first.

    The root is a local folder or an object store prefix (`s3://bucket/landing`). A source's name is
    its path relative to the root, so moving the root keeps the ledger valid. Offsets are byte
    offsets into the uncompressed stream. A file is immutable once visible, so a compressed file the
    ledger knows of is done. A plain file on an object store is read from the ledger's offset on
    (a ranged GET); a local one is mapped.
    """

    def __init__(self, root: Location | Path | str) -> None:
        self.location = as_location(root)

    def files(self, domain: str, event: str) -> list[LandingFile]:
        prefix = f"{domain}/{event}"
        found = self.location.list_files(prefix, recursive=False)
        files = [LandingFile(f"{prefix}/{f.uri.rsplit('/', 1)[-1]}", f.uri, f.size) for f in found]
        return sorted((f for f in files if is_landing_name(f.name)), key=lambda f: f.source)

    def pending_files(self, domain: str, event: str, ledger: Ledger) -> list[LandingFile]:
        """Files with bytes not yet consumed according to `ledger`."""
        pending = []
        for file in self.files(domain, event):
            done = ledger.consumed_until(file.source)
            if done == 0 or (file.name.endswith(".pb") and done < file.size):
                pending.append(file)
        return pending

    def _read(self, file: LandingFile, start: int) -> tuple[bytes | memoryview, int]:
        """The file's uncompressed bytes from `start` on (or all of them), and the offset they begin at."""
        location = self.location
        if file.name.endswith(".pb") and location.local_path is not None:
            return map_file(Path(file.uri)), 0
        path, filesystem = location.fs_path(file.uri), location.filesystem
        with location.errors(f"cannot read {file.source}"):
            if not file.name.endswith(".pb"):
                with filesystem.open_input_stream(path, compression=None) as stream:
                    return decompress(stream.read(), file.name), 0
            with filesystem.open_input_file(path) as ranged:
                size = ranged.size()
                return (ranged.read_at(size - start, start) if start < size else b""), min(start, size)

    def batches(self, domain: str, event: str, ledger: Ledger) -> Iterator[RawBatch]:
        for file in self.pending_files(domain, event, ledger):
            source = file.source
            start = ledger.consumed_until(source)
            data, base = self._read(file, start)
            length = base + len(data)
            if start >= length and length > 0:
                continue
            frames = unframe(data, start - base)
            unframed = []
            end = base + frames.end
            if frames.error is not None:
                unframed.append(RawRecord(source, end, bytes(data[frames.end :]), f"unframed: {frames.error.reason}"))
                end = length
            batch = RawBatch(
                source=source,
                range=PositionRange(source, start, end),
                payloads=frames.payloads,
                offsets=frames.offsets + np.int64(base) if base else frames.offsets,
                unframed=unframed,
            )
            del data, frames, unframed  # the payloads hold the file's bytes: only as long as the batch needs them
            yield batch
            del batch

    def acknowledge(self, batch: RawBatch) -> None:
        """Files need no acknowledgement: the ledger in the table is the truth."""
