"""Governed evolution of bronze tables, on real Iceberg and Delta tables: every rule, allowed and refused.

Each test ingests events of version 1 of a small OrderPlaced, changes the .proto, then ingests events
of version 2. A compatible change evolves the table in the same run (old rows read new columns as
null); a breaking one stops the run before any commit, naming file:line, the field and the rule.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.adapters.landing import write_landing_file
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.ports.maintenance import SCHEMA_PROPERTY
from pipelines.services.evolution import (
    SchemaChangeRefusedError,
    decode_descriptors,
    schema_versions,
)
from pipelines.services.ingest import IngestResult, ingest_event
from pipelines.services.maintenance import maintain_domain
from pipelines.services.replay import replay_quarantine
from tests.integration.ingest_helpers import ORDER_PLACED, orders_runtime

FORMATS = ["iceberg", "delta"]
NOW = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)
PROTO = "orders/v1/orders.proto"
V1 = """\
// Orders, version under test.
syntax = "proto3";

package meshlake.orders.v1;

import "google/protobuf/timestamp.proto";
import "meshlake/options.proto";

enum OrderStatus {
  ORDER_STATUS_UNSPECIFIED = 0;
  ORDER_STATUS_PLACED = 1;
}

message LineItem {
  string sku = 1;
  int32 units = 2;
}

message Unrelated {
  string anything = 1;
}

message OrderPlaced {
  option (meshlake.event) = {
    event_id: "event_id"
    entity_key: "order_id"
    event_time: "placed_at"
    partition: "day(placed_at)"
  };

  string event_id = 1;
  string order_id = 2;
  google.protobuf.Timestamp placed_at = 3;
  int32 quantity = 4;
  float weight = 5;
  OrderStatus status = 6;
  repeated LineItem items = 7;
  string note = 8;
  int64 total_cents = 10;
}
"""

ALLOWED = {
    "new field": ("  string note = 8;\n", "  string note = 8;\n  string coupon = 9;\n"),
    "new nested field": ("  int32 units = 2;\n", "  int32 units = 2;\n  int64 discount = 3;\n"),
    "int32 widened to int64": ("  int32 quantity = 4;", "  int64 quantity = 4;"),
    "float widened to double": ("  float weight = 5;", "  double weight = 5;"),
    "new enum value": ("  ORDER_STATUS_PLACED = 1;\n", "  ORDER_STATUS_PLACED = 1;\n  ORDER_STATUS_PAID = 2;\n"),
    "field deleted and reserved": ("  string note = 8;\n", '  reserved 8;\n  reserved "note";\n'),
    # with a new field, so that the message's fingerprint changes and the check runs
    "another message deleted": ("message Unrelated {\n  string anything = 1;\n}\n", ""),
}

REFUSED = {
    "type changed": ("  int32 quantity = 4;", "  string quantity = 4;", "OrderPlaced.quantity", "FIELD_SAME_TYPE"),
    "narrowed": (
        "  int64 total_cents = 10;",
        "  int32 total_cents = 10;",
        "OrderPlaced.total_cents",
        "FIELD_SAME_TYPE",
    ),
    "nested type changed": ("  int32 units = 2;", "  string units = 2;", "LineItem.units", "FIELD_SAME_TYPE"),
    "field deleted": ("  string note = 8;\n", "", "OrderPlaced.note", "FIELD_NO_DELETE"),
    "field renumbered": ("  string note = 8;", "  string note = 18;", "OrderPlaced.note", "FIELD_SAME_NUMBER"),
    "field renamed": ("  string note = 8;", "  string remark = 8;", "OrderPlaced.remark", "FIELD_SAME_NAME"),
    "cardinality changed": (
        "  string note = 8;",
        "  repeated string note = 8;",
        "OrderPlaced.note",
        "FIELD_SAME_CARDINALITY",
    ),
    "enum value deleted": (
        "  ORDER_STATUS_PLACED = 1;\n",
        "",
        "OrderStatus.ORDER_STATUS_PLACED",
        "ENUM_VALUE_NO_DELETE",
    ),
}


class Lake:
    """A MESHLAKE_HOME whose schema folder a test rewrites between ingestions."""

    def __init__(self, root: Path, fmt: str) -> None:
        self.root, self.fmt = root, fmt
        self.schemas = root / "schemas"
        (self.schemas / "orders" / "v1").mkdir(parents=True)  # meshlake/options.proto comes from the package
        self.runtime = self.write(V1)
        self.files = 0

    def write(self, proto: str) -> Runtime:
        (self.schemas / PROTO).write_text(proto)
        self.runtime = orders_runtime(self.root / "home", self.fmt, self.schemas)
        return self.runtime

    def land(self, *orders: dict[str, Any]) -> None:
        cls = self.runtime.schemas.message_class(ORDER_PLACED)
        payloads = []
        for fields in orders:
            msg = cls(**{k: v for k, v in fields.items() if k != "placed_at"})
            msg.placed_at.FromDatetime(fields.get("placed_at", NOW))
            payloads.append(msg.SerializeToString())
        self.files += 1
        write_landing_file(self.runtime.settings.landing_dir, "orders", "order_placed", f"f{self.files}", payloads)

    def ingest(self, run_id: str) -> IngestResult:
        runtime = self.runtime
        return ingest_event(
            runtime.domain("orders"),
            "order_placed",
            runtime.contract("orders", "order_placed"),
            runtime.landing,
            runtime,
            run_id,
            clock=lambda: NOW,
            descriptors=runtime.schemas.descriptor_set,
        )

    @property
    def store(self) -> Any:
        return self.runtime.store_for("orders", Layer.BRONZE)

    @property
    def table(self) -> Any:
        return self.runtime.domain("orders").bronze_table("order_placed")

    def rows(self) -> dict[str, dict[str, Any]]:
        return {r["event_id"]: r for r in self.store.read(self.table).to_pylist()}


def v1_order(n: int) -> dict[str, Any]:
    return {"event_id": f"e{n}", "order_id": f"O{n}", "quantity": n, "weight": 0.5, "status": 1, "note": "n"}


@pytest.fixture(params=FORMATS)
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    lake = Lake(tmp_path, request.param)
    lake.land(v1_order(1), {**v1_order(2), "items": [{"sku": "A", "units": 2}]})
    assert lake.ingest("run-1").rows_written == 2
    return lake


@pytest.mark.parametrize("case", sorted(ALLOWED))
def test_a_compatible_change_evolves_the_table_in_the_same_run(lake: Lake, case: str) -> None:
    old, new = ALLOWED[case]
    assert old in V1
    proto = V1.replace(old, new)
    if case == "another message deleted":
        proto = proto.replace("  string note = 8;\n", "  string note = 8;\n  string coupon = 9;\n")
    lake.write(proto)
    v2: dict[str, Any] = {"event_id": "e3", "order_id": "O3", "status": 1}
    if case == "new field":
        v2["coupon"] = "SAVE5"
    if case == "new nested field":
        v2["items"] = [{"sku": "B", "units": 1, "discount": 40}]
    if case == "int32 widened to int64":
        v2["quantity"] = 2**40
    if case == "float widened to double":
        v2["weight"] = 0.1
    if case == "new enum value":
        v2["status"] = 2
    lake.land(v2)

    result = lake.ingest("run-2")

    assert result.rows_written == 1
    assert result.schema_version_number == 2
    rows = lake.rows()
    assert sorted(rows) == ["e1", "e2", "e3"]  # old and new events in the same table
    schema = lake.store.schema(lake.table)
    if case == "new field":
        assert result.schema_changes == ["add coupon (string)"]
        assert (rows["e1"]["coupon"], rows["e3"]["coupon"]) == (None, "SAVE5")
        assert schema.field("coupon").metadata[b"PARQUET:field_id"] == b"9"
    if case == "new nested field":
        assert rows["e2"]["items"] == [{"sku": "A", "units": 2, "discount": None}]
        assert rows["e3"]["items"] == [{"sku": "B", "units": 1, "discount": 40}]
    if case == "int32 widened to int64":
        assert schema.field("quantity").type == pa.int64()
        assert (rows["e2"]["quantity"], rows["e3"]["quantity"]) == (2, 2**40)
    if case == "float widened to double":
        assert schema.field("weight").type == pa.float64()
        assert rows["e3"]["weight"] == 0.1  # not 0.10000000149 as a float would hold it
    if case == "new enum value":
        assert (rows["e1"]["status"], rows["e3"]["status"]) == ("ORDER_STATUS_PLACED", "ORDER_STATUS_PAID")
    if case == "field deleted and reserved":
        assert result.schema_changes == ["nullable note (NOT NULL dropped)"]
        assert (rows["e1"]["note"], rows["e3"]["note"]) == ("n", None)  # the column stays
    if case == "another message deleted":  # the file lost a message the event does not use
        assert result.schema_changes == ["add coupon (string)"]


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_breaking_change_stops_the_run_before_any_commit(lake: Lake, case: str) -> None:
    old, new, element, rule = REFUSED[case]
    assert old in V1
    proto = V1.replace(old, new)
    lake.write(proto)
    lake.land({"event_id": "e3", "order_id": "O3"})
    history, schema = lake.store.history(lake.table), lake.store.schema(lake.table)

    with pytest.raises(SchemaChangeRefusedError) as refused:
        lake.ingest("run-2")

    line = next((i for i, text in enumerate(proto.splitlines(), 1) if new.strip() and new.strip() in text), None)
    where = f"{PROTO}:{line}: " if line else f"{PROTO}:"
    assert f"{where}" in str(refused.value)
    assert f"meshlake.orders.v1.{element}: {rule}:" in str(refused.value)
    assert "orders.bronze_order_placed" in str(refused.value)
    assert "nothing was committed" in str(refused.value)
    assert lake.store.history(lake.table) == history
    assert lake.store.schema(lake.table) == schema
    lake.write(V1)  # the change reverted: the waiting file lands
    assert lake.ingest("run-3").rows_written == 1


def test_schema_versions_are_recorded_per_event_type_with_the_descriptors_once(lake: Lake) -> None:
    runtime = lake.runtime
    first = schema_versions(runtime, "orders", "order_placed")
    assert [(v.number, v.fingerprint) for v in first] == [
        (1, runtime.contract("orders", "order_placed").schema_version)
    ]
    lake.land(v1_order(3))
    lake.ingest("run-2")  # same version: no new entry, no descriptors again
    lake.write(V1.replace("  string note = 8;\n", "  string note = 8;\n  string coupon = 9;\n"))
    lake.land(v1_order(4))
    lake.ingest("run-3")
    lake.write(
        V1.replace("  string note = 8;\n", "  string note = 8; // a comment changes nothing\n  string coupon = 9;\n")
    )
    lake.land(v1_order(5))
    lake.ingest("run-4")

    versions = schema_versions(lake.runtime, "orders", "order_placed")
    assert [v.number for v in versions] == [1, 2]
    assert versions[1].fingerprint == lake.runtime.contract("orders", "order_placed").schema_version
    assert versions[0].first_used_at <= versions[1].first_used_at
    history = lake.store.history(lake.table)
    assert versions[1].first_commit == history[2].version
    recorded = [c for c in history if SCHEMA_PROPERTY in c.properties]
    assert len(recorded) == 2
    assert all("meshlake.schema_version" in c.properties for c in history)
    files = {f.name for f in decode_descriptors(recorded[1].properties[SCHEMA_PROPERTY]).file}
    assert {PROTO, "meshlake/options.proto", "google/protobuf/timestamp.proto"} <= files
    assert schema_versions(lake.runtime, "orders", "other") == []


def test_an_event_quarantined_under_version_1_is_replayed_into_the_evolved_table(lake: Lake) -> None:
    later = {**v1_order(3), "placed_at": datetime(2026, 10, 5, 15, 0, tzinfo=UTC)}  # 3 h ahead: quarantined
    lake.land(later)
    assert lake.ingest("run-2").quarantined == 1
    lake.write(V1.replace("  string note = 8;\n", "  string note = 8;\n  string coupon = 9;\n"))

    result = replay_quarantine(
        lake.runtime.domain("orders"),
        lambda event: lake.runtime.contract("orders", event),
        lake.runtime,
        "replay-1",
        clock=lambda: datetime(2026, 10, 5, 16, 0, tzinfo=UTC),
    )

    assert (result.replayed, result.removed) == (1, 1)
    rows = lake.rows()
    assert rows["e3"]["quantity"] == 3
    assert rows["e3"]["coupon"] == ""  # decoded with version 2: the proto3 default
    assert [v.number for v in schema_versions(lake.runtime, "orders", "order_placed")] == [1, 2]


@pytest.mark.parametrize("compaction", [True, False], ids=["compacted", "expiry-only"])
def test_schema_versions_and_their_governance_survive_maintenance_expiring_the_commits_that_recorded_them(
    lake: Lake, compaction: bool
) -> None:
    v2 = V1.replace("  string note = 8;\n", "  string note = 8;\n  string coupon = 9;\n")
    lake.write(v2)
    lake.land(v1_order(3))
    lake.ingest("run-2")  # version 2, its descriptors recorded
    lake.land(v1_order(4))
    lake.ingest("run-3")  # the newest commit records no descriptors
    versions = schema_versions(lake.runtime, "orders", "order_placed")
    assert [v.number for v in versions] == [1, 2]
    domain = lake.runtime.domain("orders")
    settings = {"retention_hours": 0, "orphan_age_hours": 0, "min_small_files": 2 if compaction else 1_000_000}
    spec = domain.spec.model_copy(update={"maintenance": domain.spec.maintenance.model_copy(update=settings)})
    maintain_domain(dataclasses.replace(domain, spec=spec), lake.runtime)
    assert not {v.first_commit for v in versions} & {c.version for c in lake.store.history(lake.table)}

    assert schema_versions(lake.runtime, "orders", "order_placed") == versions  # numbers, times, first commits
    lake.write(v2.replace("  ORDER_STATUS_PLACED = 1;\n", ""))  # the tables cannot see this one
    lake.land({"event_id": "e5", "order_id": "O5"})
    with pytest.raises(SchemaChangeRefusedError, match=r"OrderStatus\.ORDER_STATUS_PLACED: ENUM_VALUE_NO_DELETE"):
        lake.ingest("run-4")


def test_a_refusal_of_many_violations_names_a_few_and_counts_the_rest() -> None:
    from pipelines.core.names import TableId
    from pipelines.core.schema_rules import Violation

    violations = [Violation("a.proto", n, f"pkg.M.f{n}", "FIELD_NO_DELETE", "field deleted") for n in range(1, 13)]
    text = str(SchemaChangeRefusedError(TableId("orders", "bronze_x"), "pkg.M", violations))

    assert len(text.splitlines()) == 7
    assert text.splitlines()[-1] == "  ... and 7 more (meshlake schemas check lists them)"
