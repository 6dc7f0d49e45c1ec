"""Varint length-delimited framing of protobuf payloads (the `writeDelimitedTo` wire convention)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_MAX_VARINT_BYTES = 10


class FramingError(ValueError):
    """The bytes are not a varint length-delimited stream; names the byte offset."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason


def encode_varint(value: int) -> bytes:
    """Encode a non-negative int as a base-128 varint."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def frame(payloads: Iterable[bytes]) -> bytes:
    """Concatenate payloads, each preceded by its varint length."""
    return b"".join(encode_varint(len(p)) + p for p in payloads)


@dataclass
class Frames:
    """Payloads framed out of a buffer.

    Attributes:
        payloads: the payloads, in order.
        offsets: byte offset of each payload's length prefix.
        end: where framing stopped: the buffer's length when it was whole.
        error: why framing stopped early (truncated or oversized frame), else None.
    """

    payloads: list[bytes]
    offsets: list[int]
    end: int
    error: FramingError | None = None


def unframe(data: bytes, start: int = 0, max_message_bytes: int = 64 * 1024 * 1024) -> Frames:
    """Split a varint length-delimited buffer into payloads, starting at byte `start`.

    Stops at the first frame that cannot be read (truncated varint, a length past the end of the
    buffer or above `max_message_bytes`) and reports it in `Frames.error`; everything before it
    is returned.
    """
    payloads: list[bytes] = []
    offsets: list[int] = []
    pos = start
    size = len(data)
    view = memoryview(data)
    while pos < size:
        length = 0
        shift = 0
        cursor = pos
        while True:
            if cursor >= size:
                return Frames(payloads, offsets, pos, FramingError(pos, "truncated length prefix"))
            if cursor - pos >= _MAX_VARINT_BYTES:
                return Frames(payloads, offsets, pos, FramingError(pos, "length prefix is not a varint"))
            byte = data[cursor]
            cursor += 1
            length |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
        if length > max_message_bytes:
            return Frames(
                payloads,
                offsets,
                pos,
                FramingError(pos, f"frame length {length} exceeds {max_message_bytes}"),
            )
        if cursor + length > size:
            return Frames(
                payloads,
                offsets,
                pos,
                FramingError(pos, f"frame of {length} bytes runs past the end ({size - cursor} bytes left)"),
            )
        offsets.append(pos)
        payloads.append(view[cursor : cursor + length].tobytes())
        pos = cursor + length
    return Frames(payloads, offsets, pos)
