"""Read and write landing files, plain or compressed (gzip, zstd), chosen by file suffix."""

from __future__ import annotations

import gzip
from pathlib import Path

import zstandard

SUFFIXES = (".pb", ".pb.gz", ".pb.zst")


def is_landing_file(path: Path) -> bool:
    """A complete landing file: known suffix, not hidden, not partial."""
    return path.is_file() and not path.name.startswith(".") and path.name.endswith(SUFFIXES)


def read_bytes(path: Path) -> bytes:
    """The file's uncompressed bytes."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def compress(data: bytes, suffix: str) -> bytes:
    if suffix.endswith(".gz"):
        return gzip.compress(data, compresslevel=6)
    if suffix.endswith(".zst"):
        return zstandard.ZstdCompressor(level=3).compress(data)
    return data
