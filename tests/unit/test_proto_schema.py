"""Proto -> Arrow schema mapping on the kitchen-sink fixture and the orders contract."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.adapters.protobuf import CompiledSchemas, compile_schemas
from pipelines.core.proto_schema import (
    DEFAULT_RECURSION_DEPTH,
    Recursion,
    arrow_schema,
    field_numbers,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "proto"
SCHEMAS = Path(__file__).parents[2] / "schemas"
SINK = "meshlake.kitchen.v1.Sink"


@pytest.fixture(scope="module")
def kitchen() -> CompiledSchemas:
    return compile_schemas(FIXTURES)


def f(name: str, typ: pa.DataType, nullable: bool, field_id: int) -> pa.Field:
    return pa.field(name, typ, nullable=nullable, metadata={"PARQUET:field_id": str(field_id)})


def element(typ: pa.DataType) -> pa.DataType:
    return pa.list_(pa.field("element", typ, nullable=False))


def map_of(key: pa.DataType, value: pa.DataType) -> pa.DataType:
    return pa.map_(f("key", key, False, 1), f("value", value, False, 2))


TS = pa.timestamp("us", tz="UTC")
LABEL = pa.struct([f("text", pa.string(), False, 1), f("colour", pa.string(), False, 2), f("at", TS, True, 3)])
POINT = pa.struct(
    [
        f("x", pa.float64(), False, 1),
        f("y", pa.float64(), False, 2),
        f("label", LABEL, True, 3),
        f("tags", element(LABEL), False, 4),
        f("weight", pa.int64(), True, 5),
    ]
)
EXPECTED_SINK = pa.schema(
    [
        f("f_int32", pa.int32(), False, 1),
        f("f_int64", pa.int64(), False, 2),
        f("f_uint32", pa.uint32(), False, 3),
        f("f_uint64", pa.uint64(), False, 4),
        f("f_sint32", pa.int32(), False, 5),
        f("f_sint64", pa.int64(), False, 6),
        f("f_fixed32", pa.uint32(), False, 7),
        f("f_fixed64", pa.uint64(), False, 8),
        f("f_sfixed32", pa.int32(), False, 9),
        f("f_sfixed64", pa.int64(), False, 10),
        f("f_float", pa.float32(), False, 11),
        f("f_double", pa.float64(), False, 12),
        f("f_bool", pa.bool_(), False, 13),
        f("f_string", pa.string(), False, 14),
        f("f_bytes", pa.binary(), False, 15),
        f("colour", pa.string(), False, 16),
        f("opt_int32", pa.int32(), True, 17),
        f("opt_string", pa.string(), True, 18),
        f("opt_colour", pa.string(), True, 19),
        f("ts", TS, True, 20),
        f("dur", pa.duration("us"), True, 21),
        f("w_double", pa.float64(), True, 22),
        f("w_float", pa.float32(), True, 23),
        f("w_int64", pa.int64(), True, 24),
        f("w_uint64", pa.uint64(), True, 25),
        f("w_int32", pa.int32(), True, 26),
        f("w_uint32", pa.uint32(), True, 27),
        f("w_bool", pa.bool_(), True, 28),
        f("w_string", pa.string(), True, 29),
        f("w_bytes", pa.binary(), True, 30),
        f("point", POINT, True, 31),
        f("r_int64", element(pa.int64()), False, 32),
        f("r_string", element(pa.string()), False, 33),
        f("r_colour", element(pa.string()), False, 34),
        f("r_point", element(POINT), False, 35),
        f("r_ts", element(TS), False, 36),
        f("r_bytes", element(pa.binary()), False, 37),
        f("m_counts", map_of(pa.string(), pa.int64()), False, 38),
        f("m_points", map_of(pa.int32(), POINT), False, 39),
        f("m_colours", map_of(pa.string(), pa.string()), False, 40),
        f("m_ts", map_of(pa.bool_(), TS), False, 41),
        f("c_text", pa.string(), True, 42),
        f("c_number", pa.int64(), True, 43),
        f("c_point", POINT, True, 44),
        f("last", pa.string(), False, 100),
    ]
)


def test_kitchen_sink_maps_to_exact_types_nullability_and_field_ids(kitchen: CompiledSchemas) -> None:
    schema = arrow_schema(kitchen.descriptor(SINK))

    for got, want in zip(schema, EXPECTED_SINK, strict=True):
        assert got.equals(want, check_metadata=True), f"{got} != {want}"
    assert schema.equals(EXPECTED_SINK, check_metadata=True)


def test_map_value_and_key_fields_are_not_nullable(kitchen: CompiledSchemas) -> None:
    m_points = arrow_schema(kitchen.descriptor(SINK)).field("m_points").type

    assert not m_points.key_field.nullable
    assert not m_points.item_field.nullable
    assert m_points.item_field.metadata == {b"PARQUET:field_id": b"2"}


def test_field_numbers_are_top_level_proto_numbers(kitchen: CompiledSchemas) -> None:
    numbers = field_numbers(kitchen.descriptor(SINK))

    assert numbers["f_int32"] == 1
    assert numbers["c_point"] == 44
    assert numbers["last"] == 100
    assert list(numbers) == EXPECTED_SINK.names


def test_docs_become_field_metadata_at_every_depth(kitchen: CompiledSchemas) -> None:
    docs = kitchen.comments(SINK)
    schema = arrow_schema(kitchen.descriptor(SINK), docs)

    def doc(field: pa.Field) -> str | None:
        raw = (field.metadata or {}).get(b"doc")
        return raw.decode() if raw is not None else None

    assert doc(schema.field("f_string")) == "A plain string."
    assert doc(schema.field("ts")) == "When it happened."
    assert doc(schema.field("f_int32")) is None
    assert doc(schema.field("point").type.field("x")) == "Horizontal coordinate."
    assert doc(schema.field("point").type.field("label").type.field("text")) == "Text of the label."
    assert doc(schema.field("r_point").type.value_field.type.field("x")) == "Horizontal coordinate."
    assert doc(schema.field("m_points")) == "Points by id."
    assert doc(schema.field("m_points").type.item_field.type.field("x")) == "Horizontal coordinate."
    assert schema.field("last").metadata[b"PARQUET:field_id"] == b"100"
    # docs never change types: the schema equals the undocumented one apart from metadata
    assert schema.equals(EXPECTED_SINK)


def test_recursive_messages_become_columns_to_their_depth_then_bytes(kitchen: CompiledSchemas) -> None:
    forest = kitchen.descriptor("meshlake.kitchen.v1.Forest")

    def levels(type_: pa.DataType) -> int:
        """Struct levels of Node below `type_` (a Node struct) before its children turn to bytes."""
        element = type_.field("children").type.value_type
        return 1 + (levels(element) if pa.types.is_struct(element) else 0)

    assert levels(arrow_schema(forest).field("root").type) == DEFAULT_RECURSION_DEPTH
    assert levels(arrow_schema(forest, recursion=Recursion(depth=1)).field("root").type) == 1
    per_field = Recursion(depth=2, fields={"meshlake.kitchen.v1.Node.children": 5})
    assert levels(arrow_schema(forest, recursion=per_field).field("root").type) == 5
    innermost = arrow_schema(forest, recursion=Recursion(depth=1)).field("root").type.field("children").type
    assert innermost.value_type == pa.binary()


def test_messages_without_recursion_next_to_recursive_ones_still_map(kitchen: CompiledSchemas) -> None:
    schema = arrow_schema(kitchen.descriptor("meshlake.kitchen.v1.Point"))

    assert schema.names == ["x", "y", "label", "tags", "weight"]


def test_orders_contract_schema() -> None:
    orders = compile_schemas(SCHEMAS)
    name = "meshlake.orders.v1.OrderPlaced"
    schema = arrow_schema(orders.descriptor(name), orders.comments(name))

    assert schema.names == [
        "event_id",
        "order_id",
        "customer_id",
        "placed_at",
        "status",
        "items",
        "total_cents",
        "currency",
        "country",
        "attributes",
        "coupon_code",
        "sequence",
    ]
    assert schema.field("placed_at").type == TS
    assert schema.field("placed_at").nullable
    assert schema.field("placed_at").metadata[b"PARQUET:field_id"] == b"4"
    assert schema.field("status").type == pa.string()
    assert not schema.field("status").nullable
    assert schema.field("items").type.value_type.field("unit_price_cents").type == pa.int64()
    assert schema.field("attributes").type == map_of(pa.string(), pa.string())
    assert schema.field("coupon_code").nullable
    assert schema.field("order_id").metadata[b"doc"] == b"Id of the order."
