"""Shape scanned fields into rows: spans, per-row counts and list offsets, validity of missing values.

The scan lists a repeated field's occurrences in span order, so they are already row-major and
need only their counts per row; singular fields come one per row, so a missing one only needs a
validity bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.fast_decode_wire import U8, Piece, Wire


@dataclass
class Spans:
    """Messages to decode: `[start, end)` in the batch buffer, and the row (payload) each belongs to."""

    start: pa.Array
    end: pa.Array
    root: pa.Array

    def __len__(self) -> int:
        return len(self.start)

    def flag(self, wire: Wire, indices: pa.Array) -> None:
        """Send the rows of the spans at `indices` to the reference decoder."""
        if len(indices):
            wire.flag(pc.take(self.root, indices))


def expect_wire(wire: Wire, spans: Spans, piece: Piece, allowed: tuple[int, ...]) -> Piece:
    """Drop occurrences of an unexpected wire type, sending their rows to the reference decoder.

    upb keeps such a value as an unknown field; flagging is simpler and always correct.
    """
    lo, hi = (s.as_py() for s in pc.min_max(piece.wire).values())
    if lo == hi and lo in allowed:
        return piece
    ok = pc.is_in(piece.wire, value_set=pa.array(allowed, U8))
    spans.flag(wire, pc.filter(piece.span, pc.invert(ok)))
    return piece.filter(ok)


def counts_per_row(owners: pa.Array, n: int) -> np.ndarray:
    """How many of `owners` (span indexes) each of the `n` spans holds."""
    return np.bincount(owners.to_numpy(), minlength=n).astype(np.int32)


def with_validity(values: pa.Array, present: np.ndarray) -> pa.Array:
    """`values` (offset 0, no nulls) with the rows where `present` is False made null, buffers shared."""
    if isinstance(values, pa.StructArray):
        children = [values.field(i) for i in range(values.type.num_fields)]
        return pa.StructArray.from_arrays(children, fields=list(values.type), mask=pa.array(~present))
    validity = pa.py_buffer(np.packbits(present, bitorder="little"))
    return pa.Array.from_buffers(values.type, len(values), [validity, *values.buffers()[1:]])


def offsets_of(counts: np.ndarray) -> pa.Array:
    """List offsets (int32, n+1) from per-row counts."""
    offsets = np.zeros(len(counts) + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.array(offsets)
