"""The batch buffer and its scanned fields: what the compiled scan (`fast_decode_scan`) hands to column assembly.

A batch's payloads are one buffer; a level of messages (the rows, or every Timestamp of every
row) is a set of spans in it. `scan` reads every field of every span in one compiled pass and
returns each singular field as one entry per span (`Single`) and each repeated one as its
occurrences in row-major order (`Piece`). Spans that are not
plain well-formed wire data are reported as `bad`: their rows go to the reference decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.fast_decode_scan import ABSENT, NO_ROOM, Many, walk

U8, U64, I32, I64 = pa.uint8(), pa.uint64(), pa.int32(), pa.int64()


def arange(n: int, typ: pa.DataType = I64) -> pa.Array:
    """0..n-1 as an Arrow array of `typ` (int32 or int64)."""
    return pa.array(np.arange(n, dtype=typ.to_pandas_dtype()))


@dataclass
class Wire:
    """The messages of a batch in one buffer.

    Attributes:
        buf: the buffer as a zero-copy numpy uint8 array (it keeps the buffer alive), what the kernels read.
        bad: arrays of row (payload) indexes the fast path cannot take; the reference decoder will.
    """

    buf: npt.NDArray[np.uint8]
    bad: list[pa.Array] = field(default_factory=list)

    @classmethod
    def over(cls, data: bytes | memoryview) -> Wire:
        return cls(np.frombuffer(data, np.uint8))

    def flag(self, roots: pa.Array) -> None:
        """Send the rows `roots` (payload indexes) to the reference decoder."""
        if len(roots):
            self.bad.append(pc.cast(roots, I64))


@dataclass
class Piece:
    """Every occurrence of one field number in a level's spans, in span order (row-major).

    Attributes:
        span: index of the span (message) each occurrence is in (int32), non-decreasing.
        wire: wire type (uint8).
        pos: where the value starts (int64): the data of a length-delimited field, the bytes of a fixed one.
        value: the varint value (wire type 0) or the data length (wire type 2), uint64.
    """

    span: pa.Array
    wire: pa.Array
    pos: pa.Array
    value: pa.Array

    def filter(self, mask: pa.Array) -> Piece:
        return Piece(*(pc.filter(a, mask) for a in (self.span, self.wire, self.pos, self.value)))


@dataclass
class Single:
    """A singular field of every span of a level, one entry per span (numpy arrays).

    Attributes:
        wire: wire type, `ABSENT` where the span lacks the field.
        pos: where the value starts (not set where absent: read it only where `present`).
        value: the varint value or the data length (not set where absent).
    """

    wire: npt.NDArray[np.uint8]
    pos: npt.NDArray[np.int64]
    value: npt.NDArray[np.uint64]

    @property
    def present(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.wire != ABSENT)


@dataclass
class Scan:
    """A scanned set of spans: the wanted fields, singular or repeated, and the spans that could not be read."""

    single: dict[int, Single]
    pieces: dict[int, Piece]
    bad: pa.Array


def scan(
    wire: Wire, start: pa.Array, end: pa.Array, wanted: tuple[int, ...], singular: tuple[bool, ...], strict: bool
) -> Scan:
    """Read every field of every span `[start, end)` (int64 positions into the wire buffer).

    Args:
        wire: the batch buffer.
        start: where each message starts.
        end: where each message ends.
        wanted: field numbers to keep; others (unknown fields) are checked for form and skipped.
        singular: for each wanted field, whether it holds one value (else it is repeated).
        strict: spans holding an unknown field are bad (upb keeps a map entry with unknown fields
            as an unknown field of its message instead of adding it to the map).

    Returns:
        The wanted fields found, and the indexes of spans that are not plain wire data.
    """
    slots = np.full(max(wanted, default=0) + 1, -1, np.int32)
    slots[list(wanted)] = np.arange(len(wanted), dtype=np.int32)
    rows = np.cumsum(singular, dtype=np.int32) - 1
    singular_row = np.where(np.array(singular, bool), rows, -1).astype(np.int32)
    n, width = len(start), int(sum(singular))
    begin, stop = _numpy(start), _numpy(end)
    repeated = [slot for slot, one in enumerate(singular) if not one]
    size = int(np.sum(stop - begin)) if repeated else 0
    # Room for the repeated fields' occurrences: a guess, then the bound (an occurrence takes at
    # least 2 bytes: tag and value). Untouched room is never paged in.
    for room in dict.fromkeys((size // GUESS_BYTES_PER_OCCURRENCE, size // 2)):
        bad = pooled(n, np.bool_, False)
        # only the wire type is filled: a field's position and value are set where the message has it
        one = (pooled((width, n), np.uint8, ABSENT), pooled((width, n), np.int64), pooled((width, n), np.uint64))
        many = _many(room)
        filled = walk(wire.buf, begin, stop, slots, singular_row, strict, bad, one, many)
        if filled != NO_ROOM:
            break
    single, pieces = {}, {}
    for slot, number in enumerate(wanted):
        if singular[slot]:
            row = singular_row[slot]
            single[number] = Single(one[0][row], one[1][row], one[2][row])
    for slot, part in _by_slot(many, filled, len(repeated) > 1):
        pieces[wanted[slot]] = Piece(*(pa.array(a[part]) for a in many[:4]))
    return Scan(single, pieces, pa.array(np.flatnonzero(bad)))


GUESS_BYTES_PER_OCCURRENCE = 16
"""The first guess of room for repeated fields: an occurrence per 16 bytes of messages (an order line
takes ~30; a message type of tiny repeated values that needs more room is scanned again with the bound)."""


def _by_slot(many: Many, filled: int, several: bool) -> list[tuple[int, slice | npt.NDArray[np.int64]]]:
    """Each repeated field's occurrences: a slice of `many` (one field), or their indexes, still in order."""
    slot_of = many[4][:filled]
    if not filled:
        return []
    if not several:
        return [(int(slot_of[0]), slice(0, filled))]
    narrow = slot_of.astype(np.int16) if slot_of.max() < 1 << 15 else slot_of
    order = np.argsort(narrow, kind="stable")  # 16-bit keys sort by radix: ~4x quicker than int32's timsort
    ordered = slot_of[order]
    bounds = np.flatnonzero(np.diff(ordered)) + 1
    return [(int(slot_of[part[0]]), part) for part in np.split(order, bounds)]


def pooled(shape: int | tuple[int, ...], dtype: type, fill: object = None) -> npt.NDArray[Any]:
    """A numpy array in Arrow's memory pool (released after each chunk), unlike malloc's arenas, which keep
    what decoding threads free; filled with `fill` when given."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    array: npt.NDArray[Any] = np.frombuffer(pa.allocate_buffer(size), dtype).reshape(shape)
    if fill is not None:
        array[...] = fill
    return array


def _many(n: int) -> Many:
    return pooled(n, np.int32), pooled(n, np.uint8), pooled(n, np.int64), pooled(n, np.uint64), pooled(n, np.int32)


def _numpy(array: pa.Array) -> npt.NDArray[np.int64]:
    return np.asarray(pc.cast(array, I64).to_numpy(zero_copy_only=False), np.int64)
