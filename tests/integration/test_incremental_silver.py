"""Silver on real tables: a run reads only what bronze gained since the last one, and upserts by key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from google.protobuf.message import Message

from pipelines.adapters.landing import write_landing_file
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.services.build import build_silver
from pipelines.services.ingest import ingest_event
from pipelines.settings import Settings
from tests.paths import MESH

FORMATS = ["iceberg", "delta", "memory"]


def _ingest(runtime: Runtime, run_id: str) -> dict[str, int]:
    """Rows written to bronze per event."""
    domain = runtime.domain("orders")
    return {
        e: ingest_event(domain, e, runtime.contract("orders", e), runtime.landing, runtime, run_id).rows_written
        for e in domain.spec.events
    }


def _land(runtime: Runtime, events: list[tuple[str, Any]], name: str) -> None:
    by_event: dict[str, list[bytes]] = {}
    for event, message in events:
        by_event.setdefault(event, []).append(message.SerializeToString())
    for event, payloads in by_event.items():
        write_landing_file(runtime.settings.landing_dir, "orders", event, name, payloads)


def _silver(runtime: Runtime, table: str) -> pl.DataFrame:
    store = runtime.store_for("orders", Layer.SILVER)
    frame = pl.from_arrow(store.read(runtime.domain("orders").silver_table("orders")) if table == "state" else
                          store.read(runtime.domain("orders").history_table("orders")))  # fmt: skip
    assert isinstance(frame, pl.DataFrame)  # a table converts to a frame
    return frame.sort(frame.columns)


def _classes(runtime: Runtime) -> dict[str, type[Message]]:
    domain = runtime.domain("orders")
    return {e.message: runtime.schemas.message_class(e.message) for e in domain.spec.events.values()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_after_one_percent_more_events_a_run_reads_only_those_and_equals_a_rebuild(
    make_runtime: Callable[..., Runtime], fmt: str
) -> None:
    runtime = make_runtime(fmt)
    generate = runtime.domain("orders").generator
    assert generate is not None
    events = list(generate(_classes(runtime), 8_000, 5))
    later = set(range(0, len(events), 100))  # 1% of the events arrive after the first run
    _land(runtime, [e for n, e in enumerate(events) if n not in later], "a-first")
    written = _ingest(runtime, "run-1")
    first_rows = written["order_placed"] + written["order_cancelled"]
    first = build_silver(runtime.domain("orders"), "orders", runtime, "run-1")
    assert first.details["mode"] == "full"  # the first run builds the table

    _land(runtime, [events[n] for n in sorted(later)], "b-later")  # new orders, late and duplicate events
    written = _ingest(runtime, "run-2")
    new_rows = written["order_placed"] + written["order_cancelled"]
    second = build_silver(runtime.domain("orders"), "orders", runtime, "run-2")
    assert second.details["mode"] == "incremental"
    assert second.details["rows_scanned"] == new_rows  # exactly what bronze gained, not the whole table
    assert 0 < new_rows <= (first_rows + new_rows) // 90
    assert second.details["keys_changed"] <= new_rows
    state, history = _silver(runtime, "state"), _silver(runtime, "history")

    rebuilt = build_silver(runtime.domain("orders"), "orders", runtime, "backfill", full=True)
    assert rebuilt.details["mode"] == "full"
    assert rebuilt.details["rows_scanned"] == first_rows + new_rows
    assert _silver(runtime, "state").equals(state)
    assert _silver(runtime, "history").equals(history)

    third = build_silver(runtime.domain("orders"), "orders", runtime, "run-3")
    assert (third.details["rows_scanned"], third.details["keys_changed"]) == (0, 0)


def _placed(cls: type[Message], event_id: str, minute: int, total_cents: int) -> Any:
    msg = cls(event_id=event_id, order_id="O1", customer_id="C1", total_cents=total_cents, currency="EUR",
              country="DE", sequence=1)  # fmt: skip
    msg.placed_at.FromDatetime(datetime(2026, 10, 3, 12, minute, tzinfo=UTC))
    return msg


@pytest.mark.parametrize("fmt", FORMATS)
def test_late_out_of_order_and_duplicate_events_across_runs_never_overwrite_newer_state(
    make_runtime: Callable[..., Runtime], fmt: str
) -> None:
    runtime = make_runtime(fmt)
    classes = _classes(runtime)
    placed_cls = classes["meshlake.orders.v1.OrderPlaced"]
    cancel = classes["meshlake.orders.v1.OrderCancelled"](event_id="c1", order_id="O1", reason=1, sequence=2)
    cancel.cancelled_at.FromDatetime(datetime(2026, 10, 3, 13, tzinfo=UTC))
    domain = runtime.domain("orders")

    def run(name: str, events: list[tuple[str, Any]]) -> dict[str, Any]:
        _land(runtime, events, name)
        _ingest(runtime, name)
        build_silver(domain, "orders", runtime, name)
        return _silver(runtime, "state").row(0, named=True)

    first = run("r1", [("order_placed", _placed(placed_cls, "p2", 30, 2_000))])
    assert (first["total"], first["status"]) == (2_000 / 100, "placed")
    second = run("r2", [("order_cancelled", cancel)])  # the cancellation, in another run
    assert (second["status"], float(second["total"])) == ("cancelled", 20.0)
    third = run("r3", [("order_placed", _placed(placed_cls, "p1", 0, 1_000))])  # an older placement, late
    assert float(third["total"]) == 20.0 and third["status"] == "cancelled"
    history = _silver(runtime, "history")
    fourth = run("r4", [("order_placed", _placed(placed_cls, "p2", 30, 2_000))])  # a producer retry
    assert fourth == third
    assert _silver(runtime, "history").equals(history)
    assert history.height == 3  # p1, p2, c1, in event-time order
    assert history.sort("valid_from")["status"].to_list() == ["placed", "placed", "cancelled"]
    assert [float(t) for t in history.sort("valid_from")["total"].to_list()] == [10.0, 20.0, 20.0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_silver_table_of_another_shape_is_refused_by_an_update_and_replaced_by_a_rebuild(
    make_runtime: Callable[..., Runtime], tmp_path: Path, fmt: str
) -> None:
    events = [("order_placed", _placed(_classes(make_runtime(fmt))["meshlake.orders.v1.OrderPlaced"], "p1", 0, 100))]
    reference = Runtime(
        Settings.load(project=MESH, env={"MESHLAKE_HOME": str(tmp_path / "reference"), "MESHLAKE_FORMAT": fmt})
    )
    _land(reference, events, "r1")
    _ingest(reference, "r1")
    build_silver(reference.domain("orders"), "orders", reference, "r1")
    table = reference.domain("orders").silver_table("orders")
    current = reference.store_for("orders", Layer.SILVER).schema(table)
    # the shape an older meshlake wrote: versions as text
    older = pa.schema([f.with_type(pa.large_string()) if f.name.startswith("_v_") else f for f in current])

    runtime = make_runtime(fmt)
    store = runtime.store_for("orders", Layer.SILVER)
    store.ensure_table(table, older)
    old_rows = reference.store_for("orders", Layer.SILVER).read(table)
    for name in [n for n in old_rows.column_names if n.startswith("_v_")]:  # an older row, versions as text
        text = pa.array(["0" * 48] * old_rows.num_rows, pa.large_string())
        old_rows = old_rows.set_column(old_rows.column_names.index(name), name, text)
    store.append(table, old_rows.cast(older))
    _land(runtime, events, "r1")
    _ingest(runtime, "r1")
    with pytest.raises(
        ValueError, match=r"_v_order_placed is large_binary, the table has (large_)?string.*full rebuild"
    ):
        build_silver(runtime.domain("orders"), "orders", runtime, "r1")
    stored = store.schema(table).field("_v_order_placed").type
    assert len(store.history(table)) == 1 and (pa.types.is_string(stored) or pa.types.is_large_string(stored))

    rebuilt = build_silver(runtime.domain("orders"), "orders", runtime, "r2", full=True)

    assert store.schema(table).field("_v_order_placed").type == current.field("_v_order_placed").type  # bytes
    assert (
        store.read(table)
        .sort_by("order_id")
        .equals(reference.store_for("orders", Layer.SILVER).read(table).sort_by("order_id"))
    )
    assert rebuilt.rows == 1 and len(store.history(table)) == 1  # the old table and its history are gone
    assert build_silver(runtime.domain("orders"), "orders", runtime, "r3").details["mode"] == "incremental"
