"""Generated landing files read back for test oracles, independently of the pipeline's own code.

The framing is parsed here, messages are decoded with the compiled classes, and the contract rules
(event id, entity key and event time present, event time not in the future) are re-stated here.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

import zstandard
from google.protobuf.message import DecodeError

FUTURE = timedelta(hours=1)


def _bytes(name: str, data: bytes) -> bytes:
    if name.endswith(".gz"):
        return gzip.decompress(data)
    if name.endswith(".zst"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def read_delimited(name: str, raw: bytes) -> Iterator[tuple[int, bytes]]:
    """`(offset, payload)` of every varint length-delimited message of a file (.pb, .pb.gz, .pb.zst)."""
    data, pos = _bytes(name, raw), 0
    while pos < len(data):
        start, length, shift = pos, 0, 0
        while True:
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        yield start, data[pos : pos + length]
        pos += length


@dataclass(frozen=True)
class Landed:
    """One landed event: where it is, its message, and whether the contract accepts it."""

    source: str
    offset: int
    message: Any
    valid: bool


def landed(runtime: Any, domain: str, event: str, now: datetime | None = None) -> list[Landed]:
    """Every message in the landing files of `domain.event`, in file order, marked valid or not
    (an undecodable one has no message)."""
    spec = runtime.domain(domain).spec.events[event]
    cls = runtime.schemas.message_class(spec.message)
    options = runtime.schemas.event_options(spec.message)
    limit = (now or datetime.now(UTC)) + FUTURE
    root = runtime.landing.location  # the local folder or the bucket prefix
    names = [f.uri.rsplit("/", 1)[-1] for f in root.list_files(f"{domain}/{event}", recursive=False)]
    out = []
    for name in sorted(n for n in names if ".pb" in n and not n.startswith(".") and not n.endswith(".partial")):
        path = PurePosixPath(name)
        for offset, payload in read_delimited(name, root.read_bytes(f"{domain}/{event}/{name}")):
            try:
                msg = cls.FromString(payload)
            except DecodeError:  # undecodable: quarantined, never in bronze
                out.append(Landed(f"{domain}/{event}/{path.name}", offset, None, False))
                continue
            valid = bool(getattr(msg, options.event_id)) and bool(getattr(msg, options.entity_key))
            valid = valid and msg.HasField(options.event_time)
            valid = valid and getattr(msg, options.event_time).ToDatetime(tzinfo=UTC) <= limit
            out.append(Landed(f"{domain}/{event}/{path.name}", offset, msg, valid))
    return out


def landed_counts(runtime: Any, domain: str, event: str) -> tuple[int, int]:
    """How many landed events of `domain.event` the contract accepts, and how many it rejects."""
    events = landed(runtime, domain, event)
    accepted = sum(e.valid for e in events)
    return accepted, len(events) - accepted
