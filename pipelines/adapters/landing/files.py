"""LandingFile: one complete landing file, on the local disk or in an object store."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LandingFile:
    """A landing file found (or written) under the landing root.

    Attributes:
        source: its path relative to the landing root, `<domain>/<event>/<name>`: the name the
            ledger knows it by, so moving the root keeps the ledger valid.
        uri: where it is (a local path or `s3://...`).
        size: its size in bytes when listed.
        mtime: its last modification when listed (seconds since the epoch; 0 when not known).
    """

    source: str
    uri: str
    size: int
    mtime: float = 0.0

    @property
    def name(self) -> str:
        return self.source.rsplit("/", 1)[-1]

    @property
    def event(self) -> str:
        return self.source.split("/")[1]

    @property
    def domain(self) -> str:
        return self.source.split("/")[0]
