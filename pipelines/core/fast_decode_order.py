"""Put scanned occurrences in row order: one value per row for singular fields, row-major lists for repeated ones.

A scan yields a field's occurrences step by step, and the same message can hold a field at
different steps (after one line item or after three). Sorting would cost n·log n per field;
instead a singular field is placed by one `scatter` of occurrence numbers into row slots, and a
repeated field's pieces are merged by counting: each occurrence's rank within its row is the
number of earlier pieces that held the row, so its place is `row offset + rank`.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    return Piece(pa.array([], I64), pa.array([], U8), pa.array([], I64), pa.array([], U64))


def concat(pieces: list[Piece]) -> Piece:
    """All occurrences of a field, piece after piece (not in row order when there are several)."""
    if not pieces:
        return empty_piece()
    if len(pieces) == 1:
        return pieces[0]
    values = [p.value for p in pieces]
    if any(not v.type.equals(values[0].type) for v in values):
        values = [pc.cast(v, U64) for v in values]
    return Piece(
        pa.concat_arrays([p.span for p in pieces]),
        pa.concat_arrays([p.wire for p in pieces]),
        pa.concat_arrays([p.pos for p in pieces]),
        pa.concat_arrays(values),
    )


def expect_wire(wire: Wire, spans: Spans, pieces: list[Piece], allowed: tuple[int, ...]) -> list[Piece]:
    """Drop occurrences of an unexpected wire type, sending their rows to the reference decoder.

    upb keeps such a value as an unknown field; flagging is simpler and always correct.
    """
    kept = []
    for piece in pieces:
        lo, hi = (s.as_py() for s in pc.min_max(piece.wire).values())
        if lo == hi and lo in allowed:
            kept.append(piece)
            continue
        ok = pc.is_in(piece.wire, value_set=pa.array(allowed, U8))
        spans.flag(wire, pc.filter(piece.span, pc.invert(ok)))
        kept.append(piece.filter(ok))
    return kept


def ones(n: int, typ: pa.DataType = I32) -> pa.Array:
    return pa.nulls(n, typ).fill_null(1)


def placement(wire: Wire, spans: Spans, pieces: list[Piece], occ: Piece) -> pa.Array | None:
    """Row -> occurrence index (null where the row lacks the field); None when it is the identity.

    A row holding a singular field twice (merge or last-one-wins semantics) goes to the reference.
    """
    n, m = len(spans), len(occ.span)
    if len(pieces) == 1 and m == n:
        return None
    perm = pc.scatter(arange(m), occ.span, max_index=n - 1)
    if n - perm.null_count < m:
        flag_repeats(wire, spans, occ.span)
    return perm


def flag_repeats(wire: Wire, spans: Spans, owners: pa.Array) -> None:
    """Flag the rows of spans that appear more than once in `owners`."""
    counts = pc.value_counts(owners)
    twice = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    spans.flag(wire, twice)


def place(values: pa.Array, perm: pa.Array | None) -> pa.Array:
    """Values of occurrences moved into row slots (nulls for rows without one)."""
    return values if perm is None else pc.take(values, perm)


@dataclass
class Rows:
    """Occurrences of a repeated field in row-major order, and how many each row holds."""

    occ: Piece
    counts: pa.Array

    def offsets(self) -> pa.Array:
        return offsets_of(self.counts)


def offsets_of(counts: pa.Array) -> pa.Array:
    """List offsets (int32, n+1) from per-row counts."""
    csum = pc.cumulative_sum(pc.cast(counts, I32))
    return pa.concat_arrays([pa.array([0], I32), csum])


def row_major(pieces: list[Piece], n: int) -> Rows:
    """Merge the pieces of a repeated field into row-major order without sorting.

    Within a piece every span appears at most once and pieces come in scan order, so an
    occurrence's rank within its row is how many earlier pieces held the row.
    """
    pieces = [p for p in pieces if len(p.span)]
    if not pieces:
        return Rows(empty_piece(), pa.nulls(n, I32).fill_null(0))
    if len(pieces) == 1:
        piece = pieces[0]
        return Rows(piece, pc.scatter(ones(len(piece.span)), piece.span, max_index=n - 1).fill_null(0))
    counts = pa.nulls(n, I32).fill_null(0)
    ranks = []
    for piece in pieces:
        ranks.append(pc.take(counts, piece.span))
        counts = pc.add(counts, pc.scatter(ones(len(piece.span)), piece.span, max_index=n - 1).fill_null(0))
    starts = pc.subtract(pc.cumulative_sum(counts), counts)
    dest = pa.concat_arrays([pc.add(pc.take(starts, p.span), r) for p, r in zip(pieces, ranks, strict=True)])
    occ = concat(pieces)
    perm = pc.scatter(arange(len(dest)), dest)
    return Rows(occ.take(perm), counts)


def expand_offsets(per_occurrence: pa.Array, rows: Rows) -> pa.Array:
    """List offsets of elements when occurrence i (row-major) holds `per_occurrence[i]` elements."""
    element_cum = offsets_of(per_occurrence)
    return pc.take(element_cum, rows.offsets())
