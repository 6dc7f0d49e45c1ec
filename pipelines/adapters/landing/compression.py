"""Read and write landing files, plain or compressed (gzip, zstd), chosen by file suffix."""

from __future__ import annotations

import gzip
import mmap
import os
import zlib
from pathlib import Path

import zstandard

SUFFIXES = (".pb", ".pb.gz", ".pb.zst")


class DamagedFileError(ValueError):
    """A compressed landing file cannot be decompressed whole (truncated or corrupt); says why."""


def is_landing_name(name: str) -> bool:
    """The name of a complete landing file: known suffix, not hidden, not partial."""
    return not name.startswith(".") and name.endswith(SUFFIXES)


def map_file(path: Path) -> bytes | memoryview:
    """A plain local file's bytes as a read-only map of it.

    A map is not copied into the process: its pages come from the page cache as the decoder reads
    them (on its threads), where reading a 45 MB file took the ingest thread ~30 ms, mostly to fault
    in a fresh buffer (benchmarks: ingest). A landing file is never truncated or rewritten once visible
    (it may grow: the map covers the size it had), so the map stays valid; it is unmapped when the
    last payload view of it goes.
    """
    with path.open("rb") as file:
        if not os.fstat(file.fileno()).st_size:
            return b""
        return memoryview(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ))


def decompress(data: bytes, name: str) -> bytes:
    """The uncompressed stream of a landing file's bytes, by its name's suffix.

    Raises:
        DamagedFileError: the file is truncated or corrupt (none of its bytes are returned).
    """
    if name.endswith(".gz"):
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            raise DamagedFileError(f"gzip: {exc}") from None
    if name.endswith(".zst"):
        return _zstd(data)
    return data


def _zstd(data: bytes) -> bytes:
    """Every frame of a zstd stream, which must end with a complete frame.

    A decompressor object stops silently where its input stops, returning what it could: a
    truncated file would lose its tail (or, when small, everything) without a word.
    """
    out, rest = [], data
    try:
        while rest:
            stream = zstandard.ZstdDecompressor().decompressobj()
            out.append(stream.decompress(rest))
            if not stream.eof:
                raise DamagedFileError("zstd: the stream is truncated (it ends inside a frame)")
            rest = stream.unused_data
    except zstandard.ZstdError as exc:
        raise DamagedFileError(f"zstd: {exc}") from None
    return b"".join(out)


def compress(data: bytes, suffix: str) -> bytes:
    if suffix.endswith(".gz"):
        return gzip.compress(data, compresslevel=6)
    if suffix.endswith(".zst"):
        return zstandard.ZstdCompressor(level=3).compress(data)
    return data
