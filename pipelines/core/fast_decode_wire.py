"""Vectorised protobuf wire scanning: the tags and values of many messages read at once with pyarrow.compute.

Why this shape: the reference decoder pays one Python object per field per message. Here every
message of a batch advances in lock step instead: step k reads the k-th field of every message
still open, so each step is a handful of Arrow kernels over up to a whole batch and Python runs
once per *step*, not once per field. What comes out is, per field number, the pieces (one per
step) of `(span, wire type, position, value)` that later become columns.

Nothing here knows the schema. Anything that is not plain, well-formed wire data (groups, bad
wire types, truncation, over-long varints, field number 0) is not decoded: the span is reported
as `bad` and its row goes to the reference decoder, which gives the exact verdict and reason.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

U8, U64, I32, I64 = pa.uint8(), pa.uint64(), pa.int32(), pa.int64()
PADDING = bytes(16)
"""Appended to the buffer so reading up to 10 varint bytes past any span's end stays in bounds."""

MAX_SMALL_BUFFER = 1 << 30
"""Batches below this many bytes use int32 positions (half the memory); a length is capped at this
too, so `position + length` cannot overflow int32 and an oversized length still reads as past the end."""
_MAX_LENGTH = pa.scalar(MAX_SMALL_BUFFER, U64)
_SEVEN_BITS = pa.scalar(0x7F, U8)
_HIGH_BIT = pa.scalar(0x80, U8)
_ZERO64 = pa.scalar(0, U64)
_SEVEN, _THREE = pa.scalar(7, U8), pa.scalar(3, U8)
_MAX_TAG = pa.scalar(1 << 32, U64)
# Per wire type: does a varint follow the tag (0 varint, 2 length)? fixed width? length-delimited?
# Wire types 3/4 (groups) and 6/7 (invalid) are "bad": the reference decoder takes those rows.
_HAS_VARINT = pa.array([1, 0, 1, 0, 0, 0, 0, 0], I32)
_FIXED_WIDTH = pa.array([0, 8, 0, 0, 0, 4, 0, 0], I32)
_IS_LENGTH = pa.array([0, 0, 1, 0, 0, 0, 0, 0], I32)
_BAD_WIRE = pa.array([False, False, False, True, True, False, True, True])


class _Ranges:
    """Cached 0..n-1 arrays (int32 or int64), sliced zero-copy for every size up to the largest asked for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ranges: dict[pa.DataType, pa.Array] = {}

    def __call__(self, n: int, typ: pa.DataType = I64) -> pa.Array:
        current = self._ranges.get(typ)
        if current is None or n > len(current):
            with self._lock:
                current = self._ranges.get(typ)
                if current is None or n > len(current):
                    size = max(n, 2 * len(current) if current is not None else 0, 1024)
                    ones = pa.nulls(size, typ).fill_null(1)
                    current = self._ranges[typ] = pc.subtract(pc.cumulative_sum(ones), pa.scalar(1, typ))
        return current.slice(0, n)


arange = _Ranges()


def u64(value: int) -> pa.Scalar:
    """A uint64 scalar: a bare Python int would turn uint64 arithmetic into int64 arithmetic."""
    return pa.scalar(value, U64)


def plus(positions: pa.Array, offset: pa.Array | int) -> pa.Array:
    """`positions + offset`, keeping the positions' integer type (a bare int would widen int32 to int64)."""
    if isinstance(offset, int):
        return pc.add(positions, pa.scalar(offset, positions.type))
    return pc.add(positions, offset if offset.type.equals(positions.type) else pc.cast(offset, positions.type))


@dataclass
class Wire:
    """The payloads of a batch, concatenated into one buffer seen as a uint8 Arrow array.

    Attributes:
        data: the concatenated payloads plus `PADDING`.
        u8: `data` as a zero-copy uint8 array, the source of every gather.
        positions: int32 below `MAX_SMALL_BUFFER` bytes, else int64: the type of every position.
        bad: arrays of row (payload) indexes the fast path cannot take; the reference decoder will.
    """

    data: bytes
    u8: pa.Array
    positions: pa.DataType = I64
    bad: list[pa.Array] = field(default_factory=list)

    @classmethod
    def of(cls, payloads: list[bytes]) -> Wire:
        data = b"".join([*payloads, PADDING])
        positions = I32 if len(data) < MAX_SMALL_BUFFER else I64
        return cls(data, pa.Array.from_buffers(U8, len(data), [None, pa.py_buffer(data)]), positions)

    def flag(self, roots: pa.Array) -> None:
        """Send the rows `roots` (payload indexes) to the reference decoder."""
        if len(roots):
            self.bad.append(pc.cast(roots, I64))


@dataclass
class Varints:
    """Varints read at many positions.

    Attributes:
        value: the values, uint64; or uint8 when `small` (every varint was one byte).
        width: byte width of each varint (1 when `small`).
        overlong: which varints ran past 10 bytes (None if none did).
        small: every varint was a single byte (value < 128).
        low: the smallest first byte.
        high: the largest first byte.
    """

    value: pa.Array
    width: pa.Array | int
    overlong: pa.Array | None
    small: bool
    low: int
    high: int

    def wide(self) -> pa.Array:
        """The values as uint64."""
        return pc.cast(self.value, U64) if self.small else self.value


def read_varints(u8: pa.Array, pos: pa.Array) -> Varints:
    """Decode one base-128 varint at each position (bits past 64 dropped, as upb does)."""
    first = pc.take(u8, pos)
    if len(first) == 0:
        return Varints(first, 1, None, True, 0, 0)
    lo, hi = (s.as_py() for s in pc.min_max(first).values())
    if hi < 0x80:
        return Varints(first, 1, None, True, lo, hi)
    value = pc.cast(pc.bit_wise_and(first, _SEVEN_BITS), U64)
    more = pc.greater_equal(first, _HIGH_BIT)
    width = pc.add(pc.cast(more, I32), pa.scalar(1, I32))
    for k in range(1, 10):
        live = more.true_count
        if live == 0:
            return Varints(value, width, None, False, lo, hi)
        if 2 * live >= len(more):  # most still open (e.g. Timestamp seconds): read byte k of every one
            byte = pc.take(u8, plus(pos, k))
            part = pc.shift_left(pc.cast(pc.bit_wise_and(byte, _SEVEN_BITS), U64), u64(7 * k))
            value = pc.bit_wise_or(value, pc.if_else(more, part, _ZERO64))
            more = pc.and_(more, pc.greater_equal(byte, _HIGH_BIT))
        else:  # a few long ones: only those
            where = pc.indices_nonzero(more)
            byte = pc.take(u8, pc.add(pc.take(pos, where), k))
            part = pc.shift_left(pc.cast(pc.bit_wise_and(byte, _SEVEN_BITS), U64), u64(7 * k))
            value = pc.replace_with_mask(value, more, pc.bit_wise_or(pc.take(value, where), part))
            more = pc.replace_with_mask(more, more, pc.greater_equal(byte, _HIGH_BIT))
        width = pc.add(width, pc.cast(more, I32))
    return Varints(value, width, more if pc.any(more).as_py() else None, False, lo, hi)


@dataclass
class Piece:
    """Occurrences of one field number in one scan step, in span order.

    Attributes:
        span: index of the span (message) each occurrence is in; unique within a piece.
        wire: wire type (uint8).
        pos: where the value starts: the data of a length-delimited field, the bytes of a fixed one.
        value: the varint value (wire type 0) or the data length (wire type 2): uint64, or uint8
            when every value of the step fits one byte (`concat` widens).
    """

    span: pa.Array
    wire: pa.Array
    pos: pa.Array
    value: pa.Array

    def take(self, indices: pa.Array) -> Piece:
        return Piece(*(pc.take(a, indices) for a in (self.span, self.wire, self.pos, self.value)))

    def filter(self, mask: pa.Array) -> Piece:
        return Piece(*(pc.filter(a, mask) for a in (self.span, self.wire, self.pos, self.value)))


@dataclass
class Scan:
    """A scanned set of spans: pieces by field number, and the spans that could not be read."""

    pieces: dict[int, list[Piece]]
    bad: list[pa.Array]


def _or(masks: list[pa.Array]) -> pa.Array | None:
    out = None
    for mask in masks:
        out = mask if out is None else pc.or_(out, mask)
    return out


def scan(u8: pa.Array, start: pa.Array, end: pa.Array, wanted: frozenset[int], strict: bool = False) -> Scan:
    """Read every field of every span `[start, end)` (int32 or int64 positions into `u8`), step by step.

    Args:
        u8: the wire buffer.
        start: where each message starts.
        end: where each message ends.
        wanted: field numbers to keep; others (unknown fields) are checked for form and skipped.
        strict: spans holding an unknown field are bad (upb keeps a map entry with unknown fields
            as an unknown field of its message instead of adding it to the map).

    Returns:
        The pieces of each wanted field, and the indexes of spans that are not plain wire data.
    """
    pieces: dict[int, list[Piece]] = {}
    bad: list[pa.Array] = []
    span = arange(len(start), I32)
    open_ = pc.less(start, end)
    if not pc.all(open_).as_py():
        span, start, end = (pc.filter(a, open_) for a in (span, start, end))
    cur = start
    after_tag_byte = u8.slice(1)  # gathering from it at `cur` reads the byte after a one-byte tag
    total, steps = len(span), 0
    while len(span):
        if straggling(steps, len(span), total):  # a few very long messages: the reference is quicker
            bad.append(span)
            break
        steps += 1
        tag = read_varints(u8, cur)
        problems = _tag_problems(tag)
        number: pa.Array | int
        if tag.small and tag.low == tag.high:  # the same field in every message: nothing to split
            number, wire = tag.low >> 3, pa.repeat(pa.scalar(tag.low & 7, U8), len(span))
        elif tag.small:  # field numbers 1..15: wire type and number straight from the byte
            wire, number = pc.bit_wise_and(tag.value, _SEVEN), pc.shift_right(tag.value, _THREE)
        else:
            wire = pc.cast(pc.bit_wise_and(tag.value, u64(7)), U8)
            number = pc.cast(pc.shift_right(tag.value, u64(3)), I64, safe=False)
        val = read_varints(after_tag_byte, cur) if tag.small else read_varints(u8, plus(cur, tag.width))
        uniform = tag.low & 7 if tag.small and tag.low == tag.high else None
        pos, nxt, value = _advance(wire, uniform, cur, tag.width, val, problems)
        gap = pc.subtract(end, nxt)  # < 0: the field runs past its message; 0: the message is done
        low_gap = pc.min(gap).as_py()
        if low_gap < 0:
            problems.append(pc.less(gap, 0))
        broken = _or(problems)
        if broken is not None and pc.any(broken).as_py():
            bad.append(pc.filter(span, broken))
            keep = pc.invert(broken)
            span, wire, pos, nxt, end, value, gap = (
                pc.filter(a, keep) for a in (span, wire, pos, nxt, end, value, gap)
            )
            number = number if isinstance(number, int) else pc.filter(number, keep)
        unknown = _collect(pieces, Piece(span, wire, pos, value), number, wanted)
        if strict and unknown is not None:
            bad.append(unknown)
        if low_gap <= 0:
            more = pc.greater(gap, 0)
            span, nxt, end = (pc.filter(a, more) for a in (span, nxt, end))
        cur = nxt
    return Scan(pieces, bad)


STRAGGLER_STEPS = 32
"""After this many steps, a handful of spans still open (a very long repeated field) go to the reference
decoder: each further step costs a dozen kernel calls for almost no rows."""


def straggling(steps: int, active: int, total: int) -> bool:
    """Whether the `active` spans left of `total` are too few to keep stepping through."""
    return steps >= STRAGGLER_STEPS and active * 100 < total and active <= 256


def _tag_problems(tag: Varints) -> list[pa.Array]:
    """Tags that are not: over-long, field number 0, or (multi-byte) past 32 bits."""
    problems = [] if tag.overlong is None else [tag.overlong]
    if tag.small:
        if tag.low < 8:
            problems.append(pc.less(tag.value, pa.scalar(8, U8)))
    elif tag.low < 8 or pc.max(tag.value).as_py() >= _MAX_TAG.as_py():
        problems.append(pc.or_(pc.less(tag.value, u64(8)), pc.greater_equal(tag.value, _MAX_TAG)))
    return problems


def _advance(
    wire: pa.Array,
    uniform: int | None,
    cur: pa.Array,
    tag_width: pa.Array | int,
    val: Varints,
    problems: list[pa.Array],
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Where each value starts, where the next field starts, and the step's varint values.

    `uniform` is the wire type when every tag of the step is the same; otherwise it is looked up.
    """
    if uniform is None:
        lo, hi = (s.as_py() for s in pc.min_max(wire).values())
        uniform = lo if lo == hi else None
    if uniform is not None:  # one wire type in the whole step: plain numbers instead of lookups
        if _BAD_WIRE[uniform].as_py():
            problems.append(pa.nulls(len(wire), pa.bool_()).fill_null(True))
        if uniform in (1, 5) or _BAD_WIRE[uniform].as_py():
            start = plus(cur, tag_width)
            fixed = int(_FIXED_WIDTH[uniform].as_py())
            return start, plus(start, fixed) if fixed else start, val.value
        if val.overlong is not None:
            problems.append(val.overlong)
        both_int = isinstance(tag_width, int) and isinstance(val.width, int)
        width = tag_width + val.width if both_int else pc.add(tag_width, val.width)
        pos = plus(cur, width)
        if uniform == 0:
            return pos, pos, val.value
        length = pc.cast(val.value if val.small else pc.min_element_wise(val.value, _MAX_LENGTH), cur.type)
        return pos, pc.add(pos, length), val.value
    value = val.wide()
    has_varint = pc.take(_HAS_VARINT, wire)
    problems.append(pc.take(_BAD_WIRE, wire))
    if val.overlong is not None:
        problems.append(pc.and_(val.overlong, pc.cast(has_varint, pa.bool_())))
    pos = plus(plus(cur, tag_width), pc.multiply(has_varint, val.width))
    length = pc.multiply(pc.take(_IS_LENGTH, wire), pc.cast(pc.min_element_wise(value, _MAX_LENGTH), I32))
    return pos, plus(plus(pos, pc.take(_FIXED_WIDTH, wire)), length), value


def _collect(
    pieces: dict[int, list[Piece]], step: Piece, number: pa.Array | int, wanted: frozenset[int]
) -> pa.Array | None:
    """File the occurrences of one step under their field numbers (most steps hold just one).

    Returns the spans whose field in this step is not wanted (None when all are).
    """
    if len(step.span) == 0:
        return None
    if not isinstance(number, int):
        lo, hi = (s.as_py() for s in pc.min_max(number).values())
        number = lo if lo == hi else number
    if isinstance(number, int):
        if number in wanted:
            pieces.setdefault(number, []).append(step)
            return None
        return step.span
    order = pc.sort_indices(number)  # stable: spans stay in order within a field
    runs = pc.run_end_encode(pc.take(number, order))
    ends, values = runs.run_ends.to_pylist(), runs.values.to_pylist()
    begin, unknown = 0, []
    for stop, num in zip(ends, values, strict=True):
        rows = order.slice(begin, stop - begin)
        if num in wanted:
            pieces.setdefault(num, []).append(step.take(rows))
        else:
            unknown.append(pc.take(step.span, rows))
        begin = stop
    return pa.concat_arrays(unknown) if unknown else None
