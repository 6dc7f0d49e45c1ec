"""Build the Arrow column of every field of a message level from its scanned occurrences, recursing into sub-messages.

Sub-messages are never parsed one by one: the occurrences of a message field *are* the spans of
the next level, so all Timestamps (or line items, or map entries) of a batch are scanned together
and become the children of one struct/list/map array.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass

from pipelines.core.fast_decode_order import Spans, counts_per_row, expect_wire, offsets_of, with_validity
from pipelines.core.fast_decode_plan import FIXED32_TYPES, FIXED64_TYPES, FieldPlan, Kind, MessagePlan
from pipelines.core.fast_decode_scan import packed_varints
from pipelines.core.fast_decode_values import (
    duration_micros,
    enum_names,
    fixed_values,
    fixed_width,
    gather,
    scanned_lengths,
    text_values,
    timestamp_micros,
    unknown_enums,
    varint_values,
)
from pipelines.core.fast_decode_wire import I32, Piece, Single, Wire, arange, scan
from pipelines.core.null_values import null_values
from pipelines.core.proto_schema import json_text


def decode_message(wire: Wire, plan: MessagePlan, spans: Spans, read: bool) -> list[pa.Array]:
    """The output columns (one per schema field, each `len(spans)` long) of the messages in `spans`.

    Args:
        wire: the batch buffer; rows the fast path cannot take are flagged on it.
        plan: the message's plan.
        spans: the messages.
        read: whether the reference decoder reads these values (so range errors reject the row).
    """
    singular = tuple(not f.fd.is_repeated for f in plan.fields)
    found = scan(wire, spans.start, spans.end, plan.numbers, singular, strict=plan.map_entry)  # every field, once
    spans.flag(wire, found.bad)
    for members in plan.oneofs:  # only the last member set counts: the reference decides
        twice = np.sum([found.single[number].present for number in members], axis=0) > 1
        spans.flag(wire, pa.array(np.flatnonzero(twice)))
    columns = []
    for field in plan.fields:
        read_field = read and field.output
        if field.fd.is_repeated:  # each field's scan output is freed as soon as its column is built
            column = _many(wire, field, found.pieces.pop(field.number, None), spans, read_field)
        else:
            column = _singular(wire, field, found.single.pop(field.number), spans, plan.map_entry, read_field)
        if field.output:
            columns.append(column)
    return columns


def _many(wire: Wire, field: FieldPlan, piece: Piece | None, spans: Spans, read: bool) -> pa.Array:
    if piece is None:
        return _absent(field, len(spans), entry=False)
    if field.kind is Kind.MAP:
        return _map(wire, field, piece, spans, read)
    return _repeated(wire, field, piece, spans, read)


def _absent(field: FieldPlan, n: int, entry: bool) -> pa.Array:
    """The column of a field no message of the level holds: nulls, empty lists, or the default value."""
    if field.kind is Kind.MAP or field.repeated:
        values = pa.array([], field.value_type)
        offsets = pa.nulls(n + 1, pa.int32()).fill_null(0)
        if field.kind is Kind.MAP:
            return pa.MapArray.from_arrays(
                offsets, pa.array([], field.arrow_type.key_type), values, type=field.arrow_type
            )
        return pa.ListArray.from_arrays(offsets, values, type=field.arrow_type)
    if _nullable(field, entry):
        return null_values(field.arrow_type, n)
    return pa.repeat(pa.scalar(_default(field), field.arrow_type), n)


def _nullable(field: FieldPlan, entry: bool) -> bool:
    """A missing value is null only for fields with presence; a map entry's key and value read as defaults."""
    return bool(field.fd.has_presence) and not entry


def _inner(spans: Spans, occ: Piece) -> Spans:
    """The values of length-delimited occurrences as the spans of the next level."""
    return Spans(occ.pos, _end(occ.pos, occ.value), pc.take(spans.root, occ.span))


def _end(pos: pa.Array, length: pa.Array) -> pa.Array:
    return pc.add(pos, scanned_lengths(length))


def _singular(wire: Wire, field: FieldPlan, single: Single, spans: Spans, entry: bool, read: bool) -> pa.Array:
    """One value per span; a span lacking the field reads as null, or as the default where there is no presence."""
    present = single.present
    wrong = present & (single.wire != field.wire_type)
    if wrong.any():  # upb keeps a value of another wire type as an unknown field: the reference decides
        spans.flag(wire, pa.array(np.flatnonzero(wrong)))
        present = present & ~wrong
    everywhere = bool(present.all())
    if not everywhere and not present.any() and not (entry and field.child is not None):
        return _absent(field, len(spans), entry)
    value = single.value if everywhere else np.where(present, single.value, np.uint64(0))
    start = single.pos if everywhere else np.where(present, single.pos, 0)  # a missing one's is not set
    if field.kind is Kind.TEXT:
        values = _text(wire, field, spans, pa.array(start), pa.array(value))
    elif field.kind is Kind.SCALAR:
        values = _singular_scalars(wire, field, spans, single, present, value)
        if not everywhere and not _nullable(field, entry):
            return pc.if_else(pa.array(present), values, pa.scalar(_default(field), field.arrow_type))
    else:  # a missing message reads as the empty one: null unless it is a map value (the default message)
        values = _messages(
            wire, field, Spans(pa.array(start), pa.array(start + value.astype(np.int64)), spans.root), read
        )
    return values if everywhere or not _nullable(field, entry) else with_validity(values, present)


def _singular_scalars(
    wire: Wire, field: FieldPlan, spans: Spans, single: Single, present: np.ndarray, value: np.ndarray
) -> pa.Array:
    if field.wire_type == 0:
        raw = varint_values(field.fd.type, pa.array(value))
    elif present.all():  # also a level without rows (a nested message none of the rows holds)
        raw = fixed_values(wire, field.fd.type, pa.array(single.pos))
    else:  # a row lacking the value reads the bytes of one that has it (any will do: it is masked)
        pos = np.where(present, single.pos, single.pos[np.argmax(present)])
        raw = fixed_values(wire, field.fd.type, pa.array(pos))
    return _enum(wire, field, spans, raw, arange(len(present)), present)


def _repeated(wire: Wire, field: FieldPlan, piece: Piece, spans: Spans, read: bool) -> pa.Array:
    packable = field.kind is Kind.SCALAR
    allowed = (field.wire_type, 2) if packable and field.wire_type != 2 else (2,)
    occ = expect_wire(wire, spans, piece, allowed)
    counts = counts_per_row(occ.span, len(spans))
    if field.kind is Kind.TEXT:
        values = _text(wire, field, Spans(occ.pos, occ.pos, pc.take(spans.root, occ.span)), occ.pos, occ.value)
        offsets = offsets_of(counts)
    elif field.kind is Kind.SCALAR:
        values, offsets = _repeated_scalars(wire, field, spans, occ, counts)
    else:
        values = _messages(wire, field, _inner(spans, occ), read)
        offsets = offsets_of(counts)
    return pa.ListArray.from_arrays(offsets, values, type=field.arrow_type)


def _repeated_scalars(
    wire: Wire, field: FieldPlan, spans: Spans, occ: Piece, counts: np.ndarray
) -> tuple[pa.Array, pa.Array]:
    """Unpacked values are one element each; a packed run (wire type 2) holds several, in place of its occurrence."""
    packed = occ.wire.to_numpy() == 2
    if not packed.any():
        return _scalars(wire, field, spans, occ), offsets_of(counts)
    runs, single = np.flatnonzero(packed), np.flatnonzero(~packed)
    start = occ.pos.to_numpy()[runs]
    end = start + occ.value.to_numpy()[runs].astype(np.int64)
    run_roots = pc.take(spans.root, pc.take(occ.span, pa.array(runs)))
    if field.fd.type in FIXED32_TYPES or field.fd.type in FIXED64_TYPES:
        run_counts, raw = _fixed_runs(wire, field, start, end, run_roots)
    else:
        run_counts, varints, bad = packed_varints(wire.buf, start, end)
        wire.flag(pc.filter(run_roots, pa.array(bad)))
        raw = varint_values(field.fd.type, pa.array(varints))
    per_occurrence = np.ones(len(packed), np.int64)
    per_occurrence[runs] = run_counts
    first = np.cumsum(per_occurrence) - per_occurrence  # each occurrence's first element
    run_first = np.cumsum(run_counts) - run_counts
    in_run = np.arange(len(raw)) - np.repeat(run_first, run_counts)
    dest = np.concatenate([first[single], np.repeat(first[runs], run_counts) + in_run])
    if field.wire_type == 0:
        unpacked = varint_values(field.fd.type, pc.take(occ.value, pa.array(single)))
    else:
        unpacked = fixed_values(wire, field.fd.type, pc.take(occ.pos, pa.array(single)))
    order = np.empty(len(dest), np.int64)
    order[dest] = np.arange(len(dest))
    values = pc.take(pa.concat_arrays([unpacked, raw]), pa.array(order))
    owners = occ.span.to_numpy()[np.concatenate([single, np.repeat(runs, run_counts)])][order]
    element_offsets = np.concatenate([[0], np.cumsum(per_occurrence)])
    row_offsets = element_offsets[np.asarray(offsets_of(counts))].astype(np.int32)
    return _enum(wire, field, spans, values, pa.array(owners)), pa.array(row_offsets)


def _fixed_runs(
    wire: Wire, field: FieldPlan, start: np.ndarray, end: np.ndarray, roots: pa.Array
) -> tuple[np.ndarray, pa.Array]:
    """Values per packed fixed-width run, and all values run after run (runs of uneven size go to the reference)."""
    width = fixed_width(field.fd.type)
    size = end - start
    wire.flag(pc.filter(roots, pa.array(size % width != 0)))
    run_counts = size // width
    run_first = np.cumsum(run_counts) - run_counts
    index = np.arange(int(run_counts.sum())) - np.repeat(run_first, run_counts)
    pos = np.repeat(start, run_counts) + index * width
    return run_counts, fixed_values(wire, field.fd.type, pa.array(pos))


def _scalars(wire: Wire, field: FieldPlan, spans: Spans, occ: Piece) -> pa.Array:
    if field.wire_type == 0:
        raw = varint_values(field.fd.type, occ.value)
    else:
        raw = fixed_values(wire, field.fd.type, occ.pos)
    return _enum(wire, field, spans, raw, occ.span)


def _enum(
    wire: Wire, field: FieldPlan, spans: Spans, numbers: pa.Array, owners: pa.Array, present: np.ndarray | None = None
) -> pa.Array:
    """Enum names for enum fields (other values pass through); `owners` are the spans the values are in.

    `present` says which values are real (the others are placeholders for rows lacking the field).
    """
    if not field.enum_names:
        return numbers
    if field.closed_enum:  # protobuf moves unknown values of a closed enum to the unknown fields
        unknown = unknown_enums(numbers, field.enum_names)
        if present is not None:
            unknown = pc.filter(unknown, pa.array(present[unknown.to_numpy()]))
        spans.flag(wire, pc.take(owners, unknown))
    return enum_names(numbers, field.enum_names)


def _default(field: FieldPlan) -> object:
    value = field.fd.default_value
    if field.enum_names:
        return dict(field.enum_names).get(int(value), str(value))
    return value


def _text(wire: Wire, field: FieldPlan, spans: Spans, pos: pa.Array, length: pa.Array) -> pa.Array:
    values, invalid = text_values(wire, pos, length, field.fd.type == FieldDescriptor.TYPE_STRING)
    if invalid is not None:
        spans.flag(wire, invalid)
    return values.cast(field.value_type) if not values.type.equals(field.value_type) else values


def _messages(wire: Wire, field: FieldPlan, inner: Spans, read: bool) -> pa.Array:
    """One value per span of `inner` (the occurrences of a message field), read as a level of its own."""
    if field.kind in (Kind.JSON, Kind.CUT):
        return _per_value(wire, field, inner, read)
    assert field.child is not None
    columns = decode_message(wire, field.child, inner, read)
    if field.kind is Kind.FLAG:
        return pa.repeat(pa.scalar(True), len(inner))
    if field.kind is Kind.STRUCT:
        return pa.StructArray.from_arrays(columns, fields=list(field.value_type))
    if field.kind is Kind.WRAPPER:
        return columns[0]
    seconds, nanos = columns
    values, wrong = (timestamp_micros if field.kind is Kind.TIMESTAMP else duration_micros)(seconds, nanos)
    if read and pc.any(wrong).as_py():
        inner.flag(wire, pc.indices_nonzero(wrong))
    return values


def _per_value(wire: Wire, field: FieldPlan, inner: Spans, read: bool) -> pa.Array:
    """Messages without a columnar form, converted one value at a time by protobuf.

    Struct/Value/ListValue become their JSON text, a recursive message past its depth its bytes
    serialized deterministically (as the reference does; a producer's order may differ). Only
    schemas using them pay for a Python object per value. A value that does not parse, or has no
    JSON form (NaN), sends its row to the reference.
    """
    data = gather(wire, inner.start, pc.subtract(inner.end, inner.start))
    message_class = GetMessageClass(field.fd.message_type)
    json = field.kind is Kind.JSON
    values: list[str | bytes] = []
    bad: list[int] = []
    for index, raw in enumerate(data.to_pylist()):
        try:
            message = message_class.FromString(raw)
            values.append(json_text(message) if json else message.SerializeToString(deterministic=True))
        except DecodeError:
            values.append("" if json else b"")
            bad.append(index)
        except ValueError:
            values.append("")
            if read:
                bad.append(index)
    if bad:
        inner.flag(wire, pa.array(bad, pa.int64()))
    return pa.array(values, field.value_type)


def _map(wire: Wire, field: FieldPlan, piece: Piece, spans: Spans, read: bool) -> pa.Array:
    """Entries in row-major order, sorted by key within a row like the reference; repeated keys go to it."""
    assert field.child is not None
    occ = expect_wire(wire, spans, piece, (2,))
    inner = _inner(spans, occ)
    keys, values = decode_message(wire, field.child, inner, read)
    if len(keys) > 1:
        keys, values = _sort_entries(wire, inner, occ.span, keys, values)
    offsets = offsets_of(counts_per_row(occ.span, len(spans)))
    return pa.MapArray.from_arrays(offsets, keys, values, type=field.arrow_type)


_SWAP_PASSES = 6
"""Odd-even transposition passes before a full sort: a map of k entries needs at most k passes."""


def _sort_entries(
    wire: Wire, inner: Spans, owner: pa.Array, keys: pa.Array, values: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """Sort each row's entries by key, like the reference; rows holding a key twice go to the reference.

    Producers write map entries in hash or insertion order, so nearly every row may need sorting;
    maps are small, so swapping adjacent out-of-order entries (alternating even and odd pairs)
    sorts them in a few vectorised passes. Larger maps finish with one sort of their rows.
    """
    m = len(owner)
    same = pc.equal(owner.slice(0, m - 1), owner.slice(1))
    for phase in range(_SWAP_PASSES):
        behind = pc.and_(same, pc.greater(keys.slice(0, m - 1), keys.slice(1)))
        if not pc.any(behind).as_py():
            break
        parity = pc.equal(pc.bit_wise_and(arange(m - 1, I32), pa.scalar(1, I32)), pa.scalar(phase % 2, I32))
        swap = pc.cast(pc.and_(behind, parity), I32)
        zero = pa.array([0], I32)
        shift = pc.subtract(pa.concat_arrays([swap, zero]), pa.concat_arrays([zero, swap]))
        perm = pc.add(arange(m, I32), shift)  # i <-> i+1 wherever a swap starts at i
        keys, values = pc.take(keys, perm), pc.take(values, perm)
    else:
        keys, values = _sort_rows(owner, same, keys, values)
    repeated = pc.and_(same, pc.equal(keys.slice(0, m - 1), keys.slice(1)))
    if pc.any(repeated).as_py():
        inner.flag(wire, pc.indices_nonzero(repeated))
    return keys, values


def _sort_rows(owner: pa.Array, same: pa.Array, keys: pa.Array, values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Sort the entries of the rows still out of order by (row, key), in place."""
    m = len(owner)
    unordered = pc.and_(same, pc.greater(keys.slice(0, m - 1), keys.slice(1)))
    if not pc.any(unordered).as_py():
        return keys, values
    mask = pc.is_in(owner, value_set=pc.unique(pc.filter(owner.slice(0, m - 1), unordered)))
    chosen = pc.indices_nonzero(mask)
    table = pa.table({"o": pc.take(owner, chosen), "k": pc.take(keys, chosen), "i": chosen})
    order = table.sort_by([("o", "ascending"), ("k", "ascending"), ("i", "ascending")]).column("i")
    perm = pc.replace_with_mask(pc.cast(arange(m), "uint64"), mask, order.combine_chunks())
    return pc.take(keys, perm), pc.take(values, perm)
