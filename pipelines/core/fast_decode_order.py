"""Put scanned occurrences in row order: one value per row for singular fields, per-row counts for repeated ones.

The scan lists a field's occurrences in span order, so a repeated field is already row-major and
needs only its counts per row; a singular field is placed by one scatter of occurrence numbers
into row slots (rows holding it twice go to the reference decoder: merge semantics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.fast_decode_wire import I32, I64, U8, U64, Piece, Wire, arange


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


def empty_piece() -> Piece:
    return Piece(pa.array([], I32), pa.array([], U8), pa.array([], I64), pa.array([], U64))


def expect_wire(wire: Wire, spans: Spans, piece: Piece | None, allowed: tuple[int, ...]) -> Piece:
    """Drop occurrences of an unexpected wire type, sending their rows to the reference decoder.

    upb keeps such a value as an unknown field; flagging is simpler and always correct.
    """
    if piece is None:
        return empty_piece()
    lo, hi = (s.as_py() for s in pc.min_max(piece.wire).values())
    if lo == hi and lo in allowed:
        return piece
    ok = pc.is_in(piece.wire, value_set=pa.array(allowed, U8))
    spans.flag(wire, pc.filter(piece.span, pc.invert(ok)))
    return piece.filter(ok)


def counts_per_row(owners: pa.Array, n: int) -> np.ndarray:
    """How many of `owners` (span indexes) each of the `n` spans holds."""
    return np.bincount(owners.to_numpy(), minlength=n).astype(np.int32)


def placement(wire: Wire, spans: Spans, occ: Piece) -> pa.Array | None:
    """Row -> occurrence index (null where the row lacks the field); None when it is the identity.

    A row holding a singular field twice (merge or last-one-wins semantics) goes to the reference.
    """
    n, m = len(spans), len(occ.span)
    counts = counts_per_row(occ.span, n)
    if m == n and (n == 0 or counts.max() == 1):
        return None
    if m and counts.max() > 1:
        spans.flag(wire, pa.array(np.flatnonzero(counts > 1)))
    return pc.scatter(arange(m), occ.span, max_index=n - 1)


def flag_repeats(wire: Wire, spans: Spans, owners: pa.Array) -> None:
    """Flag the rows of spans that appear more than once in `owners`."""
    counts = counts_per_row(owners, len(spans))
    spans.flag(wire, pa.array(np.flatnonzero(counts > 1)))


def place(values: pa.Array, perm: pa.Array | None) -> pa.Array:
    """Values of occurrences moved into row slots (nulls for rows without one)."""
    return values if perm is None else pc.take(values, perm)


def offsets_of(counts: np.ndarray) -> pa.Array:
    """List offsets (int32, n+1) from per-row counts."""
    offsets = np.zeros(len(counts) + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.array(offsets)
