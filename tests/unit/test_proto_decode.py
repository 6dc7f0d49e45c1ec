"""Reference decoder: hand-written expectations, rejects, and a property test against the protobuf API."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.adapters.protobuf import compile_schemas
from pipelines.core.proto_decode import RowError, decode_payloads, messages_to_table
from pipelines.core.proto_schema import WELL_KNOWN_TYPES, arrow_schema, is_map
from tests.strategies import T, messages

FIXTURES = Path(__file__).parents[1] / "fixtures" / "proto"
SCHEMAS = Path(__file__).parents[2] / "schemas"
KITCHEN = compile_schemas(FIXTURES)
Sink = KITCHEN.message_class("meshlake.kitchen.v1.Sink")
SINK_SCHEMA = arrow_schema(Sink.DESCRIPTOR)


def full_sink() -> Message:
    m = Sink(
        f_int32=-7,
        f_int64=-(2**40),
        f_uint32=2**32 - 1,
        f_uint64=2**64 - 1,
        f_sint32=-3,
        f_sint64=-(2**62),
        f_fixed32=5,
        f_fixed64=2**63 + 1,
        f_sfixed32=-9,
        f_sfixed64=-(2**63),
        f_float=1.5,
        f_double=-2.25,
        f_bool=True,
        f_string="grüße",
        f_bytes=b"\x00\xff",
        colour=2,
        opt_int32=0,
        opt_string="",
        opt_colour=0,
        r_int64=[3, 1, 2],
        r_string=["a", ""],
        r_colour=[1, 0, 7],
        r_bytes=[b"", b"x"],
        c_number=42,
        last="end",
    )
    m.ts.seconds, m.ts.nanos = 1767323045, 678901234  # 2026-01-02T03:04:05.678901234Z
    m.dur.seconds, m.dur.nanos = -1, -500_000_999
    m.w_double.value = 0.0
    m.w_float.value = 0.5
    m.w_int64.value = 0
    m.w_uint64.value = 2**64 - 1
    m.w_int32.value = -1
    m.w_uint32.value = 4
    m.w_bool.value = False
    m.w_string.value = ""
    m.w_bytes.value = b"b"
    m.point.x = 1.0
    m.point.label.text = "here"
    m.point.label.at.seconds = 0
    m.point.tags.add(text="t", colour=1)
    m.r_point.add(y=2.0, weight=3)
    m.r_point.add()
    m.r_ts.add(seconds=-1, nanos=999_999_000)
    m.m_counts["b"] = 2
    m.m_counts["a"] = 1
    m.m_points[-5].x = 5.0
    m.m_points[3].label.colour = 1
    m.m_colours["k"] = 9
    m.m_ts[True].seconds = 60
    m.m_ts[False].nanos = 1000
    return m


EMPTY_POINT: dict[str, Any] = {"x": 0.0, "y": 0.0, "label": None, "tags": [], "weight": None}
FULL_EXPECTED: dict[str, Any] = {
    "f_int32": -7,
    "f_int64": -(2**40),
    "f_uint32": 2**32 - 1,
    "f_uint64": 2**64 - 1,
    "f_sint32": -3,
    "f_sint64": -(2**62),
    "f_fixed32": 5,
    "f_fixed64": 2**63 + 1,
    "f_sfixed32": -9,
    "f_sfixed64": -(2**63),
    "f_float": 1.5,
    "f_double": -2.25,
    "f_bool": True,
    "f_string": "grüße",
    "f_bytes": b"\x00\xff",
    "colour": "COLOUR_GREEN",
    "opt_int32": 0,
    "opt_string": "",
    "opt_colour": "COLOUR_UNSPECIFIED",
    "ts": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    "dur": -timedelta(seconds=1, microseconds=500_000),
    "w_double": 0.0,
    "w_float": 0.5,
    "w_int64": 0,
    "w_uint64": 2**64 - 1,
    "w_int32": -1,
    "w_uint32": 4,
    "w_bool": False,
    "w_string": "",
    "w_bytes": b"b",
    "point": {
        "x": 1.0,
        "y": 0.0,
        "label": {"text": "here", "colour": "COLOUR_UNSPECIFIED", "at": datetime(1970, 1, 1, tzinfo=UTC)},
        "tags": [{"text": "t", "colour": "COLOUR_RED", "at": None}],
        "weight": None,
    },
    "r_int64": [3, 1, 2],
    "r_string": ["a", ""],
    "r_colour": ["COLOUR_RED", "COLOUR_UNSPECIFIED", "7"],
    "r_point": [{**EMPTY_POINT, "y": 2.0, "weight": 3}, EMPTY_POINT],
    "r_ts": [datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)],
    "r_bytes": [b"", b"x"],
    "m_counts": [("a", 1), ("b", 2)],
    "m_points": [
        (-5, {**EMPTY_POINT, "x": 5.0}),
        (3, {**EMPTY_POINT, "label": {"text": "", "colour": "COLOUR_RED", "at": None}}),
    ],
    "m_colours": [("k", "9")],
    "m_ts": [
        (False, datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
        (True, datetime(1970, 1, 1, 0, 1, tzinfo=UTC)),
    ],
    "c_text": None,
    "c_number": 42,
    "c_point": None,
    "last": "end",
}
EMPTY_EXPECTED: dict[str, Any] = {
    **{name: 0 for name in SINK_SCHEMA.names if name.startswith("f_")},
    "f_float": 0.0,
    "f_double": 0.0,
    "f_bool": False,
    "f_string": "",
    "f_bytes": b"",
    "colour": "COLOUR_UNSPECIFIED",
    **{name: None for name in SINK_SCHEMA.names if name.startswith(("opt_", "w_", "c_"))},
    **{name: [] for name in SINK_SCHEMA.names if name.startswith(("r_", "m_"))},
    "ts": None,
    "dur": None,
    "point": None,
    "last": "",
}


def test_every_construct_decodes_to_hand_written_values() -> None:
    result = decode_payloads(Sink, [full_sink().SerializeToString(), b""])

    assert result.rejected == []
    assert result.accepted == [0, 1]
    assert result.table.schema.equals(SINK_SCHEMA, check_metadata=True)
    full, empty = result.table.to_pylist()
    for name, want in FULL_EXPECTED.items():
        assert full[name] == want, name
    assert full == FULL_EXPECTED
    assert empty == EMPTY_EXPECTED


def test_unset_timestamp_is_null_not_epoch() -> None:
    table = decode_payloads(Sink, [Sink(f_int32=1).SerializeToString()]).table

    assert table.column("ts").null_count == 1
    assert table.column("ts").to_pylist() == [None]


def test_oneof_only_the_set_member_is_non_null() -> None:
    m = Sink()
    m.c_point.y = 1.0
    row = decode_payloads(Sink, [m.SerializeToString()]).table.to_pylist()[0]

    assert (row["c_text"], row["c_number"]) == (None, None)
    assert row["c_point"] == {**EMPTY_POINT, "y": 1.0}


def test_garbage_is_rejected_with_a_reason_and_other_rows_are_kept() -> None:
    good = Sink(f_int32=1).SerializeToString()
    result = decode_payloads(Sink, [good, b"\xff\xff\xff", good, b"\x0a\x05ab"])

    assert result.accepted == [0, 2]
    assert [i for i, _ in result.rejected] == [1, 3]
    for _, reason in result.rejected:
        assert reason.startswith("protobuf DecodeError: Error parsing message")
        assert "meshlake.kitchen.v1.Sink" in reason
        assert "\n" not in reason
    assert result.table.column("f_int32").to_pylist() == [1, 1]


def test_timestamp_out_of_range_is_rejected_naming_the_field() -> None:
    m = Sink()
    m.ts.seconds = 10**15
    bad_duration = Sink()
    bad_duration.dur.seconds, bad_duration.dur.nanos = 1, -1
    result = decode_payloads(Sink, [m.SerializeToString(), bad_duration.SerializeToString()])

    assert result.accepted == []
    (_, ts_reason), (_, dur_reason) = result.rejected
    assert ts_reason.startswith("field Sink.ts: google.protobuf.Timestamp out of range")
    assert dur_reason.startswith("field Sink.dur: google.protobuf.Duration out of range or mixed signs")
    assert result.table.num_rows == 0
    assert result.table.schema.equals(SINK_SCHEMA, check_metadata=True)


def test_a_value_out_of_range_deep_down_is_rejected_naming_its_path() -> None:
    m = Sink()
    m.r_point.add().tags.add().at.seconds = 10**15

    [(_, reason)] = decode_payloads(Sink, [m.SerializeToString()]).rejected

    assert reason.startswith("field Sink.r_point[].tags[].at: google.protobuf.Timestamp out of range"), reason


def test_duration_truncates_toward_zero() -> None:
    m = Sink()
    m.dur.nanos = -1
    n = Sink()
    n.dur.nanos = 1999
    table = decode_payloads(Sink, [m.SerializeToString(), n.SerializeToString()]).table

    assert table.column("dur").to_pylist() == [timedelta(0), timedelta(microseconds=1)]


def test_projected_schema_reads_fields_by_name() -> None:
    schema = pa.schema([SINK_SCHEMA.field("last"), SINK_SCHEMA.field("f_int32")])
    table = decode_payloads(Sink, [Sink(f_int32=3, last="z").SerializeToString()], schema).table

    assert table.to_pylist() == [{"last": "z", "f_int32": 3}]


def test_schema_naming_a_missing_field_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'nope' is not a field of meshlake\.kitchen\.v1\.Sink"):
        decode_payloads(Sink, [], pa.schema([pa.field("nope", pa.int32())]))


def test_messages_to_table() -> None:
    table = messages_to_table([full_sink(), Sink()], SINK_SCHEMA)

    assert table.to_pylist() == [FULL_EXPECTED, EMPTY_EXPECTED]
    assert messages_to_table([], SINK_SCHEMA).schema.equals(SINK_SCHEMA, check_metadata=True)
    point = KITCHEN.message_class("meshlake.kitchen.v1.Point")()
    with pytest.raises(ValueError, match=r"message 1 is a meshlake\.kitchen\.v1\.Point"):
        messages_to_table([Sink(), point], SINK_SCHEMA)
    bad = Sink()
    bad.r_ts.add(seconds=-(10**12))
    with pytest.raises(RowError, match=r"message 0: field Sink\.r_ts\[\]:"):
        messages_to_table([bad], SINK_SCHEMA)


def test_orders_event_decodes(tmp_path: Path) -> None:
    orders = compile_schemas(SCHEMAS)
    OrderPlaced = orders.message_class("meshlake.orders.v1.OrderPlaced")
    event = OrderPlaced(event_id="e1", order_id="o1", status=1, total_cents=1250, currency="EUR")
    event.placed_at.FromDatetime(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    event.items.add(sku="SKU-1", quantity=2, unit_price_cents=625)
    event.attributes["channel"] = "web"
    schema = arrow_schema(OrderPlaced.DESCRIPTOR)

    table = decode_payloads(OrderPlaced, [event.SerializeToString()], schema).table
    row = table.to_pylist()[0]

    assert row["placed_at"] == datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert row["status"] == "ORDER_STATUS_PLACED"
    assert row["items"] == [{"sku": "SKU-1", "quantity": 2, "unit_price_cents": 625}]
    assert row["attributes"] == [("channel", "web")]
    assert row["coupon_code"] is None
    # field ids survive a Parquet round trip (they become Iceberg field ids)
    pq.write_table(table, tmp_path / "orders.parquet")
    back = pq.read_schema(tmp_path / "orders.parquet")
    assert back.field("placed_at").metadata[b"PARQUET:field_id"] == b"4"
    assert back.field("coupon_code").metadata[b"PARQUET:field_id"] == b"11"


# --- property test: the protobuf API is the oracle -------------------------------------------------


def oracle(message: Message) -> dict[str, Any]:
    """The row of a message, read through the protobuf API only."""
    row: dict[str, Any] = {}
    for fd in message.DESCRIPTOR.fields:
        value = getattr(message, fd.name)
        if is_map(fd):
            key_fd, value_fd = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
            row[fd.name] = sorted((plain(key_fd, k), plain(value_fd, v)) for k, v in value.items())
        elif fd.is_repeated:
            row[fd.name] = [plain(fd, v) for v in value]
        elif fd.has_presence and not message.HasField(fd.name):
            row[fd.name] = None
        else:
            row[fd.name] = plain(fd, value)
    return row


def plain(fd: FieldDescriptor, value: Any) -> Any:
    if fd.type == T.TYPE_ENUM:
        known = fd.enum_type.values_by_number.get(value)
        return known.name if known is not None else str(value)
    if fd.type != T.TYPE_MESSAGE:
        return value
    name = fd.message_type.full_name
    if name == "google.protobuf.Timestamp":
        return value.ToDatetime(tzinfo=UTC)
    if name == "google.protobuf.Duration":
        return value.ToTimedelta()
    if name in WELL_KNOWN_TYPES:
        return value.value
    return oracle(value)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(Sink), min_size=1, max_size=4))
def test_random_messages_round_trip_like_the_protobuf_api(messages: list[Message]) -> None:
    payloads = [m.SerializeToString() for m in messages]
    result = decode_payloads(Sink, payloads)

    assert result.rejected == []
    assert result.accepted == list(range(len(messages)))
    assert result.table.schema.equals(SINK_SCHEMA, check_metadata=True)
    result.table.validate(full=True)
    assert result.table.to_pylist() == [oracle(Sink.FromString(p)) for p in payloads]


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(st.binary(max_size=24), max_size=6))
@example([b"]\x00\x00\x81\x7f"])  # f_float = a signalling NaN
def test_arbitrary_bytes_are_either_rows_or_rejects(payloads: list[bytes]) -> None:
    result = decode_payloads(Sink, payloads)

    assert sorted(result.accepted + [i for i, _ in result.rejected]) == list(range(len(payloads)))
    assert result.table.num_rows == len(result.accepted)
    assert all(reason and "\n" not in reason for _, reason in result.rejected)
    expected = [oracle(Sink.FromString(payloads[i])) for i in result.accepted]
    assert _nans_named(result.table.to_pylist()) == _nans_named(expected)


def _nans_named(value: Any) -> Any:
    """`value` with every float NaN replaced by "NaN": random bytes make NaN floats, and NaN != NaN."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: _nans_named(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nans_named(v) for v in value]
    return value
