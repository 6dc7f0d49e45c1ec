"""LandingFileSource: the EventSource of landing files; each file is read once, from where it stopped."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from pipelines.adapters.landing.compression import DamagedFileError, decompress, is_landing_name, map_file
from pipelines.adapters.landing.files import LandingFile
from pipelines.adapters.storage import Location, as_location
from pipelines.core.framing import unframe
from pipelines.core.positions import Ledger, PositionRange
from pipelines.ports.event_source import DAMAGED_PREFIX, RawBatch, RawRecord

SETTLE_SECONDS = 300.0
"""How long a plain landing file must stay unmodified before a cut-short last frame counts as broken."""


class LandingFileSource:
    """Landing files under `<root>/<domain>/<event>/`, oldest name first.

    The root is a local folder or an object store prefix (`s3://bucket/landing`). A source's name is
    its path relative to the root, so moving the root keeps the ledger valid. Offsets are byte
    offsets into the uncompressed stream. A compressed file is immutable once visible, so one the
    ledger knows of is done; a plain `.pb` file may grow by whole frames. A plain file on an object
    store is read from the ledger's offset on (a ranged GET); a local one is mapped.

    A trailing frame cut short (its length prefix or payload runs past the end) of a plain local file
    modified within `settle_seconds` is left for a later run: the batch stops before it (an object on an
    object store never grows: its tail is judged at once). A file that can no longer grow (compressed,
    renamed after its last write, or settled) has such a tail, like any other frame that
    cannot be read, in the batch's `unframed` records. A compressed file that cannot be
    decompressed (truncated, corrupt) is one record naming why and its size (reason
    `damaged: ...`, offset 0, no payload); its batch covers the file, so it is not read again.
    """

    def __init__(
        self,
        root: Location | Path | str,
        settle_seconds: float = SETTLE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Read `root`; a plain file untouched for `settle_seconds` (by `clock`, seconds since the epoch) is done."""
        self.location = as_location(root)
        self.settle_seconds = settle_seconds
        self._clock = clock

    def files(self, domain: str, event: str) -> list[LandingFile]:
        prefix = f"{domain}/{event}"
        found = self.location.list_files(prefix, recursive=False)
        files = [LandingFile(f"{prefix}/{f.uri.rsplit('/', 1)[-1]}", f.uri, f.size, f.mtime) for f in found]
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
        """The frames of each pending file from where the ledger stops; see the class doc for broken tails
        and damaged files."""
        for file in self.pending_files(domain, event, ledger):
            source = file.source
            start = ledger.consumed_until(source)
            try:
                data, base = self._read(file, start)
            except DamagedFileError as exc:
                yield _damaged(file, str(exc))
                continue
            except FileNotFoundError:  # renamed away (or removed) since it was listed: a later run finds it
                continue
            length = base + len(data)
            if start >= length and length > 0:
                continue
            frames = unframe(data, start - base)
            unframed = []
            end = base + frames.end
            if frames.error is not None and not (frames.error.incomplete and self._may_grow(file)):
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

    def _may_grow(self, file: LandingFile) -> bool:
        """A plain local file modified within the settle time may still get the rest of its last frame, unless
        it was renamed after its last write (its inode changed after its data: a producer renames a file
        when it is done with it); an object never grows (a PUT writes it whole), so its cut-short tail is
        broken at once."""
        if not self.location.is_local or not file.name.endswith(".pb"):
            return False
        try:
            status = os.stat(file.uri)
        except FileNotFoundError:  # renamed away since it was read: read again under its new name
            return True
        if status.st_ctime_ns > status.st_mtime_ns:
            return False
        return self._clock() - status.st_mtime < self.settle_seconds


def _damaged(file: LandingFile, reason: str) -> RawBatch:
    """The whole damaged file as one record for quarantine; its range (the file's size) marks it done."""
    record = RawRecord(
        file.source, 0, b"", f"{DAMAGED_PREFIX}{reason} ({file.size} bytes); the whole file is quarantined"
    )
    return RawBatch(file.source, PositionRange(file.source, 0, max(file.size, 1)), [], [], unframed=[record])
