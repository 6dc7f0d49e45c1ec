"""The fast decoder equals the reference decoder: same table (schema included), accepted rows and rejects.

Payloads are random valid messages (orders and the kitchen sink), the same re-encoded the way other
producers and merges write them (fields out of order, repeated fields split, unpacked scalars,
unknown fields and groups, fields set twice), and garbage (random bytes, truncations, flipped bytes).
"""

from __future__ import annotations

import random
import struct
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipelines.core.fast_decode as fast_module
from pipelines.adapters.protobuf import compile_schemas
from pipelines.core.fast_decode import decode_payloads_fast
from pipelines.core.framing import encode_varint
from pipelines.core.proto_decode import decode_payloads
from pipelines.core.proto_schema import arrow_schema, is_map
from tests.strategies import T, messages

FIXTURES = Path(__file__).parents[1] / "fixtures" / "proto"
SCHEMAS = Path(__file__).parents[2] / "schemas"
KITCHEN = compile_schemas(FIXTURES)
Sink = KITCHEN.message_class("meshlake.kitchen.v1.Sink")
OrderPlaced = compile_schemas(SCHEMAS).message_class("meshlake.orders.v1.OrderPlaced")
# Editions cover what the kitchen sink lacks: repeated fixed-width scalars packed and expanded, closed
# enums, explicit defaults. (proto2 would too, but the reference decoder cannot hold its non-UTF-8 text.)
WIDE_PROTO = """
edition = "2023";
package meshlake.fasttest.v1;
import "google/protobuf/timestamp.proto";
enum Closed { option features.enum_type = CLOSED; CLOSED_ONE = 1; CLOSED_ZERO = 0; CLOSED_FIVE = 5; }
message Entry { string name = 1; sint32 score = 2; repeated Closed closed = 3; }
message Wide {
  repeated fixed32 r_fixed32 = 1; repeated sfixed32 r_sfixed32 = 2 [features.repeated_field_encoding = EXPANDED];
  repeated float r_float = 3; repeated fixed64 r_fixed64 = 4; repeated sfixed64 r_sfixed64 = 5;
  repeated double r_double = 6 [features.repeated_field_encoding = EXPANDED]; repeated bool r_bool = 7;
  repeated sint32 r_sint32 = 8; repeated sint64 r_sint64 = 9 [features.repeated_field_encoding = EXPANDED];
  repeated uint32 r_uint32 = 10; repeated Closed r_closed = 11;
  Closed closed = 12 [default = CLOSED_FIVE]; int32 with_default = 13 [default = 7];
  map<int64, Entry> entries = 14; map<string, google.protobuf.Timestamp> times = 15;
  repeated Entry list = 16; string text = 17; uint64 big = 18; float one = 19;
  int64 implicit = 20 [features.field_presence = IMPLICIT];
}
"""
with tempfile.TemporaryDirectory() as _root:
    (Path(_root) / "wide.proto").write_text(WIDE_PROTO)
    Wide = compile_schemas(Path(_root)).message_class("meshlake.fasttest.v1.Wide")
Known = compile_schemas(FIXTURES).message_class("meshlake.wellknown.v1.Known")
TYPES = [Sink, OrderPlaced, Wide, Known]

SETTINGS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
MANY = settings(SETTINGS, max_examples=120)


def _tag(number: int, wire: int) -> bytes:
    return encode_varint((number << 3) | wire)


def _length(data: bytes) -> bytes:
    return encode_varint(len(data)) + data


def _unpacked(fd: FieldDescriptor, values: list[Any]) -> bytes:
    """Repeated scalars one tag per value, as proto2 producers write them."""
    out = b""
    for v in values:
        if fd.type in (T.TYPE_SINT32, T.TYPE_SINT64):
            out += _tag(fd.number, 0) + encode_varint((v << 1) ^ (v >> 63))
        elif fd.type in (T.TYPE_FIXED32, T.TYPE_SFIXED32, T.TYPE_FLOAT):
            code = {T.TYPE_FIXED32: "<I", T.TYPE_SFIXED32: "<i", T.TYPE_FLOAT: "<f"}[fd.type]
            out += _tag(fd.number, 5) + struct.pack(code, v)
        elif fd.type in (T.TYPE_FIXED64, T.TYPE_SFIXED64, T.TYPE_DOUBLE):
            code = {T.TYPE_FIXED64: "<Q", T.TYPE_SFIXED64: "<q", T.TYPE_DOUBLE: "<d"}[fd.type]
            out += _tag(fd.number, 1) + struct.pack(code, v)
        else:
            out += _tag(fd.number, 0) + encode_varint(int(v) % 2**64)
    return out


def field_chunks(message: Message, rng: random.Random) -> list[bytes]:
    """The message as one byte string per field (per element for repeated fields, some unpacked)."""
    chunks = []
    for fd, value in message.ListFields():
        scalar_list = fd.is_repeated and not is_map(fd) and fd.type not in (T.TYPE_MESSAGE, T.TYPE_STRING, T.TYPE_BYTES)
        if scalar_list and rng.random() < 0.5:
            chunks += [_unpacked(fd, [v]) for v in value]
            continue
        one = type(message)()
        if fd.is_repeated or is_map(fd):
            items = list(value.items()) if is_map(fd) else list(value)
            for item in items:
                part = type(message)()
                if is_map(fd) and fd.message_type.fields_by_name["value"].type == T.TYPE_MESSAGE:
                    getattr(part, fd.name)[item[0]].CopyFrom(item[1])
                elif is_map(fd):
                    getattr(part, fd.name)[item[0]] = item[1]
                elif fd.type == T.TYPE_MESSAGE:
                    getattr(part, fd.name).add().CopyFrom(item)
                else:
                    getattr(part, fd.name).append(item)
                chunks.append(part.SerializeToString())
            continue
        if fd.type == T.TYPE_MESSAGE:
            getattr(one, fd.name).CopyFrom(value)
        else:
            setattr(one, fd.name, value)
        chunks.append(one.SerializeToString())
    return chunks


UNKNOWN = [
    _tag(1000, 0) + encode_varint(2**63),
    _tag(1001, 1) + bytes(8),
    _tag(1002, 2) + b"\x03\xff\xfe\xfd",
    _tag(1003, 5) + b"\x01\x02\x03\x04",
    _tag(1004, 3) + _tag(1, 0) + b"\x01" + _tag(1004, 4),  # a group: the reference decoder takes the row
]
# Hand-made fields the protobuf API never writes: map entries lacking key or value, values of the wrong
# wire type, an unknown value of a closed enum, an out-of-range Timestamp, non-UTF-8 text, packed runs.
HANDMADE = {
    Sink: [
        _tag(39, 2) + b"\x02\x08\x05",  # m_points entry without value: the value is Point()
        _tag(41, 2) + b"\x02\x08\x01",  # m_ts entry without value: the epoch
        _tag(38, 2) + b"\x02\x10\x07",  # m_counts entry without key
        _tag(39, 2) + b"\x00",  # empty entry
        _tag(38, 2) + b"\x04\x0a\x00\x48\x00",  # m_counts entry with an unknown field: upb drops the entry
        _tag(1, 2) + b"\x01a",  # f_int32 as length-delimited: upb keeps it as an unknown field
        _tag(20, 2) + _length(_tag(1, 0) + encode_varint(10**15)),  # ts seconds far out of range
        _tag(21, 2) + _length(_tag(1, 0) + encode_varint(1) + _tag(2, 0) + encode_varint(2**64 - 1)),  # mixed signs
        _tag(14, 2) + b"\x02\xc3\x28",  # f_string not UTF-8
        _tag(32, 2) + b"\x03\x01\xff\x01",  # r_int64 packed
        _tag(32, 2) + b"\x02\x01\xff",  # r_int64 packed, truncated varint
        _tag(12, 1) + struct.pack("<Q", 0x7FF0000000000001),  # f_double signalling NaN, kept as is
        _tag(11, 5) + struct.pack("<I", 0x7FA00000),  # f_float signalling NaN
        # Wire-level edges the compiled scan reads itself:
        _tag(1, 0) + b"\xff" * 9 + b"\x01",  # f_int32 = -1 as ten bytes (negative int32s are sign-extended)
        _tag(2, 0) + b"\xff" * 9 + b"\x7f",  # a 10-byte varint with bits past 64: dropped, as upb does
        _tag(2, 0) + b"\xff" * 10 + b"\x01",  # an 11-byte varint
        b"\x80" * 10 + b"\x01\x00",  # an 11-byte tag
        b"\x00\x01",  # field number 0
        b"\xf8\xff\xff\xff\x0f\x01",  # field number 2^29 - 1, unknown: skipped
        encode_varint(1 << 32) + b"\x01",  # a tag past 32 bits
        _tag(14, 2) + encode_varint(2**62) + b"abc",  # a length far past the end
        _tag(14, 2) + b"\xff" * 9 + b"\x01",  # the largest length a varint holds
        _tag(15, 2) + b"\x05ab",  # a length a little past the end
        _tag(7, 5) + b"\x01\x02",  # fixed32 cut short
        _tag(8, 1) + b"\x01" * 7,  # fixed64 cut short
        _tag(14, 0) + b"\x01",  # f_string as a varint
        _tag(13, 0) + b"\x02",  # bool 2 reads as true
        _tag(5, 0) + b"\xff\xff\xff\xff\x0f",  # sint32 zigzag of the largest magnitude
        _tag(35, 2) + _length(_tag(4, 2) + _length(_tag(3, 2) + b"\x00") + _tag(4, 2) + b"\x00"),  # nested repeated
        _tag(42, 2) + b"\x01a" + _tag(43, 0) + b"\x01",  # two members of one oneof
        _tag(14, 2) + b"\x03\xe2\x82",  # f_string with a cut UTF-8 sequence
        _tag(33, 2) + b"\x02\xed\xa0",  # r_string: a surrogate half is not UTF-8
        _tag(38, 2) + b"\x06\x0a\x01k\x10\x01" + _tag(38, 2) + b"\x06\x0a\x01k\x10\x02",  # a map key twice
        _tag(32, 2) + b"\x0b" + b"\xff" * 9 + b"\x01\x05",  # packed: a 10-byte -1, then 5
        _tag(32, 2) + b"\x0c" + b"\xff" * 10 + b"\x01",  # packed: an 11-byte varint
    ],
    OrderPlaced: [
        _tag(10, 2) + b"\x03\x0a\x01k",  # attributes entry without value
        _tag(10, 2) + b"\x03\x12\x01v",  # attributes entry without key
        _tag(4, 2) + b"\x00",  # placed_at set but empty: the epoch
        _tag(6, 2) + b"\x00",  # an empty line item
    ],
    Wide: [
        _tag(11, 2) + b"\x02\x01\x03",  # r_closed packed, 3 is unknown
        _tag(12, 0) + b"\x02",  # closed = 2, unknown
        _tag(1, 2) + b"\x05\x01\x02\x03\x04\x05",  # packed fixed32 of 5 bytes
        _tag(3, 2) + b"\x08" + struct.pack("<ff", 1.5, -2.0),
        _tag(14, 2) + b"\x02\x08\x09",  # entries entry without value
        _tag(15, 2) + b"\x02\x12\x00",  # times entry without key (editions: the key field has presence)
        _tag(14, 2) + b"\x00",  # empty entry
        _tag(19, 5) + struct.pack("<I", 0x7F800001),  # a signalling NaN: the reference quiets it
    ],
    Known: [
        _tag(6, 2) + _length(b"\x0a\x03\x0a\x01"),  # a Struct entry cut short inside: upb rejects the row
        _tag(7, 2) + _length(_tag(2, 1) + struct.pack("<d", float("nan"))),  # a Value of NaN has no JSON form
        _tag(8, 2) + _length(_tag(1, 2) + _length(_tag(3, 2) + b"\x01x")),  # a ListValue of one string
        _tag(13, 2) + _length(_tag(5, 0) + b"\x01"),  # an Empty holding an unknown field is still set
        _tag(13, 2) + b"\x02\x08",  # an Empty holding a truncated field
        _tag(14, 2) + b"\x00" + _tag(14, 2) + b"\x00",  # two pings
        _tag(25, 0) + b"\xff" * 9 + b"\x01",  # big = 2**64 - 1
        _tag(30, 0) + b"\x01",  # stage 1: its first name
    ],
}


@st.composite
def payloads(draw: st.DrawFn, cls: type[Message]) -> list[bytes]:
    """Mostly valid encodings of random messages, re-encoded or broken in the ways producers do."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        message = draw(messages(cls))
        data = message.SerializeToString()
        how = draw(
            st.sampled_from(
                ["plain", "plain", "shuffled", "merged", "unknown", "handmade", "truncated", "flipped", "junk"]
            )
        )
        rng = random.Random(draw(st.integers(0, 2**32)))
        if how == "shuffled":
            chunks = field_chunks(message, rng)
            rng.shuffle(chunks)
            data = b"".join(chunks)
        elif how == "merged":
            data += draw(messages(cls)).SerializeToString()
        elif how == "unknown":
            chunks = field_chunks(message, rng) + rng.sample(UNKNOWN, rng.randint(1, 3))
            rng.shuffle(chunks)
            data = b"".join(chunks)
        elif how == "handmade":
            chunks = field_chunks(message, rng) + rng.sample(HANDMADE[cls], rng.randint(1, 2))
            rng.shuffle(chunks)
            data = b"".join(chunks)
        elif how == "truncated" and data:
            data = data[: rng.randrange(len(data))]
        elif how == "flipped" and data:
            at = rng.randrange(len(data))
            data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
        elif how == "junk":
            data = draw(st.binary(max_size=24))
        out.append(data)
    return out


def bits(array: pa.Array) -> pa.Array:
    """Floats as their bit patterns (so NaN equals NaN, bit for bit), through lists, maps and structs."""
    typ, valid = array.type, pc.is_valid(array)
    if pa.types.is_float32(typ) or pa.types.is_float64(typ):
        return array.view(pa.uint32() if pa.types.is_float32(typ) else pa.uint64())
    if pa.types.is_map(typ):
        return pa.MapArray.from_arrays(array.offsets, bits(array.keys), bits(array.items))
    if pa.types.is_list(typ):
        return pa.ListArray.from_arrays(array.offsets, bits(array.values), mask=pc.invert(valid))
    if pa.types.is_struct(typ):
        children = [bits(array.field(i)) for i in range(typ.num_fields)]
        return pa.StructArray.from_arrays(children, [f.name for f in typ], mask=pc.invert(valid))
    return array


def assert_same(cls: type[Message], data: list[bytes], schema: pa.Schema | None = None) -> None:
    want = decode_payloads(cls, data, schema)
    got = decode_payloads_fast(cls, data, schema)
    got.table.validate(full=True)
    assert got.table.schema.equals(want.table.schema, check_metadata=True)
    assert got.accepted == want.accepted
    assert got.rejected == want.rejected
    assert got.table.num_rows == want.table.num_rows
    for name in want.table.column_names:
        ours, theirs = (bits(t.column(name).combine_chunks()) for t in (got.table, want.table))
        assert ours.equals(theirs), (name, ours.to_pylist(), theirs.to_pylist())


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.DESCRIPTOR.name)
@MANY
@given(data=st.data())
def test_random_payloads_decode_exactly_like_the_reference(cls: type[Message], data: st.DataObject) -> None:
    assert_same(cls, data.draw(payloads(cls)))


def test_a_nested_level_no_row_reaches_still_reads_its_fixed_width_fields() -> None:
    """Found by the random test: a nested level no row reaches (no spans) read a fixed-width field."""
    payload = (
        b"\x18\x80\x80\x01]\x00\x00\x80?a\x00\x00\x00\x00\x00\x00\xf0?\x92\x01\x00\x98\x01\x00\xe2\x01\x00\xea\x01"
        b"\x00\xf2\x01\x00\x92\x02\x02\x00\x00\xa2\x02\x00\xa2\x02\r\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x10"
        b"\x01\x98\x02\x04\x08\x00\x12\x00"
    )
    assert_same(Sink, [payload])


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.DESCRIPTOR.name)
@SETTINGS
@given(data=st.data())
def test_valid_messages_take_the_fast_path(
    cls: type[Message], data: st.DataObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    fallbacks: list[int] = []

    def counting(message_class: type[Message], rows: list[bytes], schema: pa.Schema | None = None) -> Any:
        fallbacks.append(len(rows))
        return decode_payloads(message_class, rows, schema)

    batch = [m.SerializeToString() for m in data.draw(st.lists(messages(cls), min_size=1, max_size=5))]
    with monkeypatch.context() as patch:
        patch.setattr(fast_module, "decode_payloads", counting)
        assert_same(cls, batch)
    assert fallbacks == []


@pytest.fixture(autouse=True)
def fast_path_for_small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small batches normally take the reference decoder; these tests are about the fast path."""
    monkeypatch.setattr(fast_module, "FAST_MIN_ROWS", 0)


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.DESCRIPTOR.name)
def test_each_handmade_field_alone_and_after_a_message(cls: type[Message]) -> None:
    message = cls()
    chunks = HANDMADE[cls]
    valid = [b"", message.SerializeToString()]
    assert_same(cls, [*chunks, *(v + chunk for v in valid for chunk in chunks), b"".join(chunks)])


@SETTINGS
@given(data=st.data())
def test_projected_schema_matches_the_reference(data: st.DataObject) -> None:
    full = arrow_schema(Sink.DESCRIPTOR)
    point = full.field("point")
    slim_point = point.with_type(pa.struct([point.type.field("label"), point.type.field("x")]))
    schema = pa.schema([full.field("m_points"), slim_point, full.field("last"), full.field("f_int32")])
    assert_same(Sink, data.draw(payloads(Sink)), schema)


def test_schema_naming_a_missing_field_is_refused_like_the_reference() -> None:
    with pytest.raises(ValueError, match=r"'nope' is not a field of meshlake\.kitchen\.v1\.Sink"):
        decode_payloads_fast(Sink, [b""], pa.schema([pa.field("nope", pa.int32())]))


def test_a_schema_with_other_types_takes_the_reference_decoder() -> None:
    schema = pa.schema([pa.field("f_int32", pa.int64()), pa.field("f_string", pa.large_string())])
    assert_same(Sink, [Sink(f_int32=5, f_string="x").SerializeToString(), b"\xff"], schema)


@SETTINGS
@given(data=st.data())
def test_batches_split_across_threads_keep_payload_order(data: st.DataObject, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [p for _ in range(4) for p in data.draw(payloads(OrderPlaced))]
    with monkeypatch.context() as patch:
        patch.setattr(fast_module, "PARALLEL_MIN_ROWS", 2)
        assert_same(OrderPlaced, batch)


@SETTINGS
@given(data=st.data())
def test_maps_too_disordered_for_the_swap_passes_are_sorted_all_the_same(
    data: st.DataObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.core.fast_decode_fields as fields

    with monkeypatch.context() as patch:
        patch.setattr(fields, "_SWAP_PASSES", 1)
        assert_same(Sink, data.draw(payloads(Sink)))


@pytest.mark.parametrize("cls", [Sink, Wide], ids=lambda c: c.DESCRIPTOR.name)
@SETTINGS
@given(data=st.data())
def test_text_past_two_gib_is_gathered_with_64_bit_offsets(
    cls: type[Message], data: st.DataObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.core.fast_decode_values as values

    with monkeypatch.context() as patch:
        patch.setattr(values, "LARGE_BINARY", 0)
        assert_same(cls, data.draw(payloads(cls)))
