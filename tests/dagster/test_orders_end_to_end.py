"""Dagster materialises the orders domain end to end; gold equals an independent computation."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from pipelines.core.names import Layer
from pipelines.dagster.resources import MeshlakeResource
from pipelines.definitions import build_definitions
from pipelines.generation import generate_landing


def _read_delimited(path: Path) -> list[bytes]:
    """A varint reader written for the test, independent of the pipeline's framing code."""
    data, pos, out = path.read_bytes(), 0, []
    while pos < len(data):
        length, shift = 0, 0
        while True:
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        out.append(data[pos : pos + length])
        pos += length
    return out


def _expected_daily_revenue(landing: Path, message_class) -> dict[tuple, tuple]:
    """Plain Python over the decoded messages: dedup by event id, latest event per order, group."""
    seen, latest = set(), {}
    for path in sorted(landing.glob("orders/order_placed/*.pb")):
        for payload in _read_delimited(path):
            msg = message_class.FromString(payload)
            if msg.event_id in seen:
                continue
            seen.add(msg.event_id)
            placed = msg.placed_at.ToDatetime()
            if msg.order_id not in latest or placed >= latest[msg.order_id][0]:
                latest[msg.order_id] = (placed, msg)
    groups: dict[tuple, list] = defaultdict(lambda: [Decimal(0), 0, set()])
    for placed, msg in latest.values():
        key = (placed.date(), msg.country, msg.currency)
        groups[key][0] += Decimal(msg.total_cents) / 100
        groups[key][1] += 1
        groups[key][2].add(msg.customer_id)
    return {k: (v[0], v[1], len(v[2])) for k, v in groups.items()}


def test_definitions_load_with_the_expected_asset_keys_groups_and_schedule():
    defs = build_definitions()
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"orders/bronze/order_placed", "orders/silver/orders", "orders/gold/daily_revenue"} <= keys
    spec = defs.resolve_asset_graph().get(dg.AssetKey(["orders", "gold", "daily_revenue"]))
    assert spec.group_name == "orders"
    assert defs.resolve_schedule_def("orders_hourly").cron_schedule == "0 * * * *"


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_materialize_orders_gold_equals_independent_computation(make_runtime, tmp_path, fmt):
    runtime = make_runtime(fmt)
    generate_landing(runtime, "orders", 3_000, seed=11, files=3)
    defs = build_definitions()
    resource = MeshlakeResource(home=str(runtime.settings.home), format=fmt)
    result = dg.materialize(
        [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)],
        resources={"meshlake": resource},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    bronze_meta = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key == dg.AssetKey(["orders", "bronze", "order_placed"])
    )
    assert bronze_meta["rows_written"].value == 3_000
    assert bronze_meta["quarantined"].value == 0
    assert bronze_meta["table_format"].value == fmt
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("quarantine_rate", True)]

    gold_store = resource.runtime().store_for("orders", Layer.GOLD, "daily_revenue")
    gold = gold_store.read(runtime.domain("orders").product_table("daily_revenue")).to_pylist()
    actual = {(r["day"], r["country"], r["currency"]): (r["revenue"], r["orders"], r["customers"]) for r in gold}
    cls = runtime.schemas.message_class("meshlake.orders.v1.OrderPlaced")
    assert actual == _expected_daily_revenue(runtime.settings.landing_dir, cls)
    assert len(actual) > 100
