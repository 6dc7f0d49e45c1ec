"""Read and write landing files, plain or compressed (gzip, zstd), chosen by file suffix."""

from __future__ import annotations

import gzip
import mmap
import os
from pathlib import Path

import zstandard

SUFFIXES = (".pb", ".pb.gz", ".pb.zst")


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
    """The uncompressed stream of a landing file's bytes, by its name's suffix."""
    if name.endswith(".gz"):
        return gzip.decompress(data)
    if name.endswith(".zst"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def compress(data: bytes, suffix: str) -> bytes:
    if suffix.endswith(".gz"):
        return gzip.compress(data, compresslevel=6)
    if suffix.endswith(".zst"):
        return zstandard.ZstdCompressor(level=3).compress(data)
    return data
