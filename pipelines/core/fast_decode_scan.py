"""Compiled protobuf wire scanning: every field of every message of a batch read in one pass (numba).

Why compiled: reading the wire format is a loop over tags whose next position depends on the last
value, which neither Python (an object per field) nor vectorised kernels (one step per field
position, each over every message) do cheaply. Here one loop walks each message's tags once and
files every occurrence of a wanted field under its field number, in message order, as flat
arrays (message index, wire type, value position, varint value or length); the caller turns
them into Arrow columns.

Nothing here knows the types: anything that is not plain well-formed wire data (groups, invalid
wire types, truncation, over-long varints, field number 0 or past 2^29, a length past the end)
only marks its message `bad`; its row goes to the reference decoder, which gives the verdict.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pipelines.core.jit import compiled

_SEVEN_BITS = np.uint64(0x7F)
_MAX_TAG = np.uint64(1 << 32)
_NO_END = -1


@compiled
def read_varint(buf: npt.NDArray[np.uint8], pos: int, limit: int) -> tuple[np.uint64, int]:
    """The varint at `pos` and where it ends: -1 past `limit` or after 10 bytes (bits past 64 drop, as in upb)."""
    value = np.uint64(0)
    shift = np.uint64(0)
    for _ in range(10):
        if pos >= limit:
            return value, _NO_END
        byte = buf[pos]
        pos += 1
        value |= (np.uint64(byte) & _SEVEN_BITS) << shift
        if byte < 0x80:
            return value, pos
        shift += np.uint64(7)
    return value, _NO_END


@compiled
def _walk(
    buf: npt.NDArray[np.uint8],
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    slots: npt.NDArray[np.int32],
    strict: bool,
    fill: bool,
    bad: npt.NDArray[np.bool_],
    cursor: npt.NDArray[np.int64],
    owner: npt.NDArray[np.int32],
    wire: npt.NDArray[np.uint8],
    pos: npt.NDArray[np.int64],
    value: npt.NDArray[np.uint64],
) -> None:
    """One pass over every message: count occurrences per slot (and mark bad messages), or fill them in.

    Filling skips the messages marked bad by counting, so a slot's filled part may be shorter than
    its count.
    """
    for i in range(len(start)):
        if fill and bad[i]:
            continue
        p, e = start[i], end[i]
        while p < e:
            tag, at = read_varint(buf, p, e)
            if at < 0 or tag < 8 or tag >= _MAX_TAG:
                bad[i] = True
                break
            kind = int(tag & np.uint64(7))
            number = int(tag >> np.uint64(3))
            val = np.uint64(0)
            if kind == 0:
                val, nxt = read_varint(buf, at, e)
                where = at
            elif kind == 1:
                where, nxt = at, at + 8
            elif kind == 5:
                where, nxt = at, at + 4
            elif kind == 2:
                val, where = read_varint(buf, at, e)
                nxt = where + int(val) if where >= 0 and val <= np.uint64(e - where) else _NO_END
            else:  # groups (3, 4) and invalid wire types (6, 7)
                nxt = _NO_END
            if nxt < 0 or nxt > e:
                bad[i] = True
                break
            slot = slots[number] if number < len(slots) else -1
            if slot >= 0:
                if fill:
                    k = cursor[slot]
                    owner[k], wire[k], pos[k], value[k] = i, kind, where, val
                cursor[slot] += 1
            elif strict:  # upb keeps a map entry with unknown fields as an unknown field of its message
                bad[i] = True
                break
            p = nxt


@compiled
def scan_messages(
    buf: npt.NDArray[np.uint8],
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    slots: npt.NDArray[np.int32],
    strict: bool,
) -> tuple[
    npt.NDArray[np.bool_],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int32],
    npt.NDArray[np.uint8],
    npt.NDArray[np.int64],
    npt.NDArray[np.uint64],
]:
    """Read every field of every message `buf[start[i]:end[i]]`.

    Args:
        buf: the batch's bytes.
        start: where each message starts.
        end: where each message ends.
        slots: field number -> slot of a wanted field (-1, or past the end: not wanted, checked and skipped).
        strict: a message holding a field that is not wanted is bad (map entries).

    Returns:
        `bad` per message; per slot the first index of its occurrences and how many there are;
        and per occurrence its message index, wire type, where its value starts (the bytes of a
        fixed-width or length-delimited value) and its varint value or length. A slot's
        occurrences are in message order and, within a message, in wire order.
    """
    n = len(start)
    nslots = int(slots.max()) + 1 if len(slots) else 0
    bad = np.zeros(n, np.bool_)
    counts = np.zeros(nslots, np.int64)
    empty32, empty8 = np.empty(0, np.int32), np.empty(0, np.uint8)
    empty64, emptyu = np.empty(0, np.int64), np.empty(0, np.uint64)
    _walk(buf, start, end, slots, strict, False, bad, counts, empty32, empty8, empty64, emptyu)
    first = np.zeros(nslots, np.int64)
    for k in range(1, nslots):
        first[k] = first[k - 1] + counts[k - 1]
    total = first[-1] + counts[-1] if nslots else 0
    owner, wire = np.empty(total, np.int32), np.empty(total, np.uint8)
    pos, value = np.empty(total, np.int64), np.empty(total, np.uint64)
    cursor = first.copy()
    _walk(buf, start, end, slots, strict, True, bad, cursor, owner, wire, pos, value)
    return bad, first, cursor - first, owner, wire, pos, value


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
    buf: npt.NDArray[np.uint8], pos: npt.NDArray[np.int64], length: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """The byte strings `buf[pos[i]:pos[i]+length[i]]` as Arrow binary buffers: offsets (n+1) and data."""
    n = len(pos)
    offsets = np.empty(n + 1, np.int64)
    offsets[0] = 0
    for i in range(n):
        offsets[i + 1] = offsets[i] + length[i]
    data = np.empty(offsets[n], np.uint8)
    for i in range(n):
        data[offsets[i] : offsets[i + 1]] = buf[pos[i] : pos[i] + length[i]]
    return offsets, data
