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

    Framing is sequential (each length says where the next frame starts), so it stays a Python
    loop; frames with a one- or two-byte length prefix (payloads under 16 KiB, nearly all events)
    take a tight loop, every other frame the general varint reader.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    payloads: list[bytes] = []
    offsets: list[int] = []
    pos = start
    size = len(data)
    while pos < size:
        pos = _short_frames(data, pos, max_message_bytes, payloads, offsets)
        if pos >= size:
            break
        step = _frame(data, pos, max_message_bytes)
        if isinstance(step, FramingError):
            return Frames(payloads, offsets, pos, step)
        cursor, end = step
        offsets.append(pos)
        payloads.append(data[cursor:end])
        pos = end
    return Frames(payloads, offsets, pos)


def _short_frames(data: bytes, pos: int, limit: int, payloads: list[bytes], offsets: list[int]) -> int:
    """Frame while length prefixes are one or two bytes and frames fit; returns where it stopped."""
    size = len(data)
    add_payload, add_offset = payloads.append, offsets.append
    while pos < size:
        first = data[pos]
        if first < 0x80:
            cursor = pos + 1
            end = cursor + first
            if first > limit or end > size:
                return pos
        else:
            if pos + 1 >= size:
                return pos
            second = data[pos + 1]
            length = (first & 0x7F) | (second << 7)
            cursor = pos + 2
            end = cursor + length
            if second >= 0x80 or length > limit or end > size:
                return pos
        add_offset(pos)
        add_payload(data[cursor:end])
        pos = end
    return pos


def _frame(data: bytes, pos: int, max_message_bytes: int) -> tuple[int, int] | FramingError:
    """The payload bounds of the frame at `pos`, or why it cannot be read."""
    size = len(data)
    length = 0
    shift = 0
    cursor = pos
    while True:
        if cursor >= size:
            return FramingError(pos, "truncated length prefix")
        if cursor - pos >= _MAX_VARINT_BYTES:
            return FramingError(pos, "length prefix is not a varint")
        byte = data[cursor]
        cursor += 1
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
    if length > max_message_bytes:
        return FramingError(pos, f"frame length {length} exceeds {max_message_bytes}")
    if cursor + length > size:
        return FramingError(pos, f"frame of {length} bytes runs past the end ({size - cursor} bytes left)")
    return cursor, cursor + length
