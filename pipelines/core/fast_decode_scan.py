"""Compiled protobuf wire scanning: every field of every message of a batch read in one pass (numba).

Why compiled: reading the wire format is a loop over tags whose next position depends on the last
value, which neither Python (an object per field) nor vectorised kernels (one step per field
position, each over every message) do cheaply. Here one loop walks each message's tags once and
files every occurrence of a wanted field under its field number as flat arrays (wire type, value
position, varint value or length); the caller turns them into Arrow columns.

Nothing here knows the value types: anything that is not plain well-formed wire data (groups, invalid
wire types, truncation, over-long varints, field number 0 or past 2^29, a length past the end)
only marks its message `bad`; its row goes to the reference decoder, which gives the verdict.
Singular fields are recorded at their message's row; repeated ones one after another, in message
order, into room the caller guessed (a pass that only counts them cost ~12 % of decoding).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pipelines.core.jit import compiled, copy_bytes

_SEVEN_BITS = np.uint64(0x7F)
_HIGH_BIT = np.uint64(0x80)
_MIN_TAG = np.uint64(8)
_MAX_TAG = np.uint64(1 << 32)
_NO_END = -1


@compiled
def read_varint(buf: npt.NDArray[np.uint8], pos: int, limit: int) -> tuple[np.uint64, int]:
    """The varint at `pos` and where it ends: -1 past `limit` or after 10 bytes (bits past 64 drop, as in upb)."""
    if pos < limit and buf[pos] < 0x80:  # most tags and values: one byte
        return np.uint64(buf[pos]), pos + 1
    value = np.uint64(0)
    shift = np.uint64(0)
    for _ in range(10):
        if pos >= limit:
            return value, _NO_END
        byte = np.uint64(buf[pos])
        pos += 1
        value |= (byte & _SEVEN_BITS) << shift
        if byte < _HIGH_BIT:
            return value, pos
        shift += np.uint64(7)
    return value, _NO_END


ABSENT = 0xFF
"""The wire type recorded for a row that lacks a singular field."""


Many = tuple[
    npt.NDArray[np.int32], npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[np.int32]
]
"""Occurrences of repeated fields: message index, wire type, value position, varint value or length, slot."""

NO_ROOM = -1
"""What `walk` returns when `many` is too small for the occurrences of repeated fields."""


@compiled
def walk(
    buf: npt.NDArray[np.uint8],
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    slots: npt.NDArray[np.int32],
    singular: npt.NDArray[np.int32],
    strict: bool,
    bad: npt.NDArray[np.bool_],
    one: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.uint64]],
    many: Many,
) -> int:
    """One pass over every message `buf[start[i]:end[i]]`, filing each wanted field it holds.

    Args:
        buf: the batch's bytes.
        start: where each message starts.
        end: where each message ends.
        slots: field number -> slot of a wanted field (-1, or past the end: not wanted, checked and skipped).
        singular: slot -> its row in `one`, or -1 for a repeated field.
        strict: a message holding a field that is not wanted is bad (map entries).
        bad: set for each message that is not plain wire data.
        one: the singular fields (wire type, value position, varint value or length), one row per
            field and a column per message, filled in; wire type `ABSENT` where a message lacks it.
        many: room for the occurrences of repeated fields, filled in message order, then wire order.

    Returns:
        How many occurrences `many` holds, or `NO_ROOM` when it is too small (`bad`, `one` and
        `many` are then partly filled: start again with more room).

    A bad message leaves nothing behind: its singular fields read `ABSENT` and its occurrences are
    dropped (a message holding a singular field twice is bad too: merge semantics are the reference's).
    """
    one_wire, one_pos, one_value = one
    owner, wire, pos, value, slot_of = many
    room = len(owner)
    k = 0
    for i in range(len(start)):
        p, e = start[i], end[i]
        first = k
        while p < e:
            # A varint is mostly one byte (tags, lengths, small values): read inline, the loop is a call
            # (calling `read_varint` for each doubled the time of a walk).
            first_byte = buf[p]
            if first_byte < 0x80:
                tag, at = np.uint64(first_byte), p + 1
            else:
                tag, at = read_varint(buf, p, e)
            if at < 0 or tag < _MIN_TAG or tag >= _MAX_TAG:
                bad[i] = True
                break
            kind = int(tag & np.uint64(7))
            number = int(tag >> np.uint64(3))
            val = np.uint64(0)
            if kind == 0:
                if at < e and buf[at] < 0x80:
                    val, nxt = np.uint64(buf[at]), at + 1
                else:
                    val, nxt = read_varint(buf, at, e)
                where = at
            elif kind == 1:
                where, nxt = at, at + 8
            elif kind == 5:
                where, nxt = at, at + 4
            elif kind == 2:
                if at < e and buf[at] < 0x80:
                    val, where = np.uint64(buf[at]), at + 1
                else:
                    val, where = read_varint(buf, at, e)
                nxt = where + int(val) if where >= 0 and val <= np.uint64(e - where) else _NO_END
            else:  # groups (3, 4) and invalid wire types (6, 7)
                nxt = _NO_END
            if nxt < 0 or nxt > e:
                bad[i] = True
                break
            slot = slots[number] if number < len(slots) else -1
            if slot < 0:
                if strict:  # upb keeps a map entry with unknown fields as an unknown field of its message
                    bad[i] = True
                    break
            elif singular[slot] >= 0:
                row = singular[slot]
                if one_wire[row, i] != ABSENT:
                    bad[i] = True
                    break
                one_wire[row, i], one_pos[row, i], one_value[row, i] = kind, where, val
            else:
                if k == room:
                    return NO_ROOM
                owner[k], wire[k], pos[k], value[k], slot_of[k] = i, kind, where, val, slot
                k += 1
            p = nxt
        if bad[i]:
            k = first
            for row in range(one_wire.shape[0]):
                one_wire[row, i], one_pos[row, i], one_value[row, i] = ABSENT, 0, 0
    return k


@compiled
def packed_varints(
    buf: npt.NDArray[np.uint8], start: npt.NDArray[np.int64], end: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """The varints of each packed run `buf[start[i]:end[i]]`: count per run, the values run after run, bad runs.

    A run whose last varint is truncated or over-long is bad; its values are still counted up to there.
    """
    n = len(start)
    counts = np.zeros(n, np.int64)
    bad = np.zeros(n, np.bool_)
    values = np.empty(int(np.sum(end - start)), np.uint64)
    k = 0
    for i in range(n):
        p, e = start[i], end[i]
        while p < e:
            values[k], p = read_varint(buf, p, e)
            if p < 0:
                bad[i] = True
                break
            counts[i] += 1
            k += 1
    return counts, values[:k], bad


@compiled
def gather_bytes(
    buf: npt.NDArray[np.uint8], pos: npt.NDArray[np.int64], offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]
) -> None:
    """Copy the byte strings `buf[pos[i]:pos[i] + offsets[i+1] - offsets[i]]` one after another into `data`.

    Raises:
        IndexError: a string reaches outside `buf` or `data` (the scan never files one; checked here
            because `copy_bytes` is not).
    """
    for i in range(len(pos)):
        source, target = pos[i], offsets[i]
        size = offsets[i + 1] - target
        if source < 0 or target < 0 or size < 0 or source + size > len(buf) or target + size > len(data):
            raise IndexError("gather_bytes: a byte string reaches outside its buffer")
        copy_bytes(data, target, buf, source, size)
