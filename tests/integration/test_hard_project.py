"""A project of a team that brought its own hard protos, end to end into both formats, and read back.

tests/projects/hard: recursion (a tree, a JSON type recursing through two messages), every scalar
type with unsigned values past 2^63, bytes event ids and entity keys, maps of messages, oneofs, an
optional message no event of a whole batch sets, imports across packages (a company package, and a
vendor's in another include root) and of every well-known type, an enum with aliases. Its events are
landed, ingested into bronze, conformed into silver and built into a gold product, in Iceberg and in
Delta; and random messages of its event type round-trip through bronze into the values protobuf
gives them.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.adapters.landing import write_landing_file
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.core.proto_decode import decode_payloads
from pipelines.ports.table_store import conform_to_schema
from pipelines.services.build import build_product, build_silver, published_inputs
from pipelines.services.ingest import ingest_event
from pipelines.settings import Settings
from tests.strategies import messages

HARD = Path(__file__).parents[1] / "projects" / "hard"
EVENT = "shipment_event"
TOP = 2**64 - 1
AT = 1_767_225_600_000_000  # 2026-01-01, microseconds


def _runtime(home: Path, fmt: str) -> Runtime:
    runtime = Runtime(Settings.load(project=HARD, env={"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt}))
    assert runtime.drop_unusable() == []  # every construct of the schema set maps
    return runtime


def _tree(cls: type[Message], depth: int) -> Message:
    node = cls(label=f"level {depth}")
    if depth < 5:  # deeper than the 3 levels kept as columns
        node.children.append(_tree(cls, depth + 1))
        node.named["next"].CopyFrom(_tree(cls, depth + 1))
    return node


def _event(cls: type[Message], i: int, shipment: int, spare: bool) -> Message:
    m = cls(event_id=b"\xff\x00" + i.to_bytes(4, "big"), shipment_key=b"\x80\xfe" + shipment.to_bytes(2, "big"))
    m.at.FromMicroseconds(AT + i * 1_000_000)
    m.sequence, m.big, m.checksum = i, TOP - i, 2**63 + i
    s = m.scalars
    s.f_double, s.f_float, s.f_int64, s.f_uint64, s.f_int32 = i / 7, 0.5, -(2**63), TOP, -(2**31)
    s.f_fixed64, s.f_fixed32, s.f_bool, s.f_string, s.f_bytes = 2**63, 2**32 - 1, True, "ß", b"\x00\xff"
    s.f_uint32, s.f_sfixed32, s.f_sfixed64, s.f_sint32, s.f_sint64, s.status = 2**32 - 1, -1, -(2**63), -5, -6, 3
    if spare and i % 2:
        m.spare.f_string = "set"
    stop = m.stops.add()
    stop.at.lat_e7, stop.at.lng_e7 = 523_000_000, 134_000_000
    stop.labels.add(value="fragile", raw=b"\x01")
    stop.eta.FromMicroseconds(AT)
    m.prices["EUR"].units, m.prices["EUR"].nanos, m.prices["EUR"].currency_code = i, 500_000_000, "EUR"
    m.by_number[TOP].f_uint64 = TOP
    if i % 3 == 0:
        m.cost.units = 7
    elif i % 3 == 1:
        m.note = "leave at the door"
    else:
        m.tree_detail.label = "detail"
    m.tree.CopyFrom(_tree(type(m.tree), 1))
    m.payload.object.fields["list"].list.items.add().object.fields["deep"].list.items.add().text = "x"
    m.attributes.update({"temperature": 4.5, "tags": ["cold", None]})
    m.value.number_value, m.list.values.add().bool_value = 1.25, True
    m.any.type_url, m.any.value = "type.googleapis.com/vendor.geo.v1.Point", b"\x0d\x01\x00\x00\x00"
    m.mask.paths.append("stops.labels")
    m.ping.SetInParent()
    m.took.FromTimedelta(timedelta(hours=2, microseconds=i))
    m.w_uint64.value, m.w_string.value, m.w_bytes.value = TOP, "w", b"\xfe"
    m.status = 1 if i % 2 else 3  # STATUS_CREATED/STATUS_NEW, STATUS_DELIVERED/STATUS_DONE
    m.history.extend([1, 2, 3])
    return m


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_the_hard_project_goes_from_landing_to_gold_and_reads_back(tmp_path: Path, fmt: str) -> None:
    runtime = _runtime(tmp_path / "home", fmt)
    domain = runtime.domain("shipments")
    cls = runtime.contract("shipments", EVENT).message_class
    quiet = [_event(cls, i, i % 40, spare=False) for i in range(250)]  # no event sets `spare`
    mixed = [_event(cls, i, i % 40, spare=True) for i in range(250, 500)]
    landing = runtime.settings.landing_dir
    write_landing_file(landing, "shipments", EVENT, "a", [m.SerializeToString() for m in quiet])
    write_landing_file(landing, "shipments", EVENT, "b", [m.SerializeToString() for m in mixed])

    ingested = ingest_event(domain, EVENT, runtime.contract("shipments", EVENT), runtime.landing, runtime, "run-1")
    build_silver(domain, "shipments", runtime, "run-1")
    published = published_inputs("shipments", [d.spec for d in runtime.domains.values()])
    build_product(domain, "shipment_facts", runtime, "run-1", published)

    assert (ingested.rows_written, ingested.quarantined) == (500, 0)
    bronze = runtime.store_for("shipments", Layer.BRONZE).read(domain.bronze_table(EVENT))
    by_id = {r["event_id"]: r for r in bronze.to_pylist()}
    first = by_id[b"\xff\x00" + (1).to_bytes(4, "big")]
    assert first["big"] == TOP - 1 and first["checksum"] == 2**63 + 1 and first["scalars"]["f_uint64"] == TOP
    assert first["spare"] is None and first["status"] == "STATUS_CREATED" and first["took"] == 7_200_000_001
    assert first["by_number"] == [(TOP, first["by_number"][0][1])] and first["w_uint64"] == TOP
    assert first["stops"][0]["at"]["lat_e7"] == 523_000_000 and first["stops"][0]["labels"][0]["raw"] == b"\x01"
    tree = first["tree"]["children"][0]["children"][0]["children"][0]  # the 4th level: kept as its bytes
    assert type(cls().tree).FromString(tree) == _tree(type(cls().tree), 4)
    assert first["ping"] is True and first["note"] == "leave at the door"
    assert sum(r["spare"] is not None for r in by_id.values()) == 125

    latest = {m.shipment_key: m for m in [*quiet, *mixed]}  # the last event of each shipment wins
    gold = runtime.store_for("shipments", Layer.GOLD, "shipment_facts").read(domain.product_table("shipment_facts"))
    assert gold.schema.field("shipment_key").type == pa.binary()
    facts = {r["shipment_key"]: r for r in gold.to_pylist()}
    assert set(facts) == set(latest)
    for key, m in latest.items():
        row = facts[key]
        status = "STATUS_CREATED" if m.status == 1 else "STATUS_DELIVERED"
        assert (row["status"], row["big"], row["stops"], row["tree_label"]) == (status, m.big, 1, "level 1")
        assert row["took_seconds"] == pytest.approx(m.took.ToMicroseconds() / 1e6)
    silver = runtime.store_for("shipments", Layer.SILVER).read(domain.silver_table("shipments"))
    assert silver.num_rows == len(latest) and silver.schema.field("shipment_key").type == pa.binary()


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
@settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_messages_round_trip_through_bronze_into_equal_values(fmt: str, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as home:
        runtime = _runtime(Path(home), fmt)
        contract = runtime.contract("shipments", EVENT)
        cls = contract.message_class
        events = data.draw(st.lists(messages(cls), min_size=1, max_size=250))
        if data.draw(st.booleans()):  # a batch the fast decoder takes
            events = (events * (200 // len(events) + 1))[:220]
        payloads = []
        for i, event in enumerate(events):
            event = type(event).FromString(event.SerializeToString())
            event.event_id, event.shipment_key = i.to_bytes(4, "big") + b"\xff", b"\xfe" + event.shipment_key
            event.at.FromMicroseconds(AT + i)
            payloads.append(event.SerializeToString())
        write_landing_file(runtime.settings.landing_dir, "shipments", EVENT, "random", payloads)

        result = ingest_event(runtime.domain("shipments"), EVENT, contract, runtime.landing, runtime, "run")

        table = runtime.domain("shipments").bronze_table(EVENT)
        stored = runtime.store_for("shipments", Layer.BRONZE)
        expected = decode_payloads(cls, payloads, contract.schema)
        assert (result.rows_written, result.quarantined) == (len(expected.accepted), len(expected.rejected))
        columns = pa.schema([f for f in stored.schema(table) if f.name != "_ingest"])
        want = conform_to_schema(table, expected.table, columns).to_pylist()
        got = stored.read(table).drop_columns(["_ingest"]).to_pylist()
        key = _by_event_id
        assert sorted(got, key=key) == sorted(want, key=key)


def _by_event_id(row: dict[str, Any]) -> bytes:
    return bytes(row["event_id"])
