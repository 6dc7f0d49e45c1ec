"""Bronze reads landing files and NATS JetStream in one run, each event once, against a real nats-server."""

from __future__ import annotations

from pathlib import Path

from pipelines.adapters.nats import NatsEventSource, publish_events
from pipelines.bootstrap import Runtime
from pipelines.core.framing import unframe
from pipelines.core.names import Layer
from pipelines.generation import generate_events, generate_landing, publish_generated
from pipelines.services.ingest import ingest_event
from pipelines.settings import Settings
from tests.paths import MESH


def test_landing_and_stream_events_land_once(tmp_path: Path, nats_url: str) -> None:
    runtime = Runtime(
        Settings.load(project=MESH, env={"MESHLAKE_HOME": str(tmp_path / "home"), "MESHLAKE_NATS_URL": nats_url})
    )
    generate_landing(runtime, "orders", 400, seed=1, files=2)
    files = runtime.landing.files("orders", "order_placed")
    landed = sum(len(unframe(Path(f.uri).read_bytes()).payloads) for f in files)
    published = generate_events(runtime, "orders", 600, seed=2)["order_placed"]
    stored = publish_generated(runtime, nats_url, "orders", 600, seed=2)
    assert stored["order_placed"] == len({event_id for event_id, _ in published})  # retries kept once
    orders = runtime.domain("orders")
    contract = runtime.contract("orders", "order_placed")

    first = ingest_event(orders, "order_placed", contract, runtime.event_source, runtime, "run-1")
    assert first.rows_written + first.quarantined == landed + stored["order_placed"]

    publish_generated(runtime, nats_url, "orders", 600, seed=2)  # the same events again, within the window
    second = ingest_event(orders, "order_placed", contract, runtime.event_source, runtime, "run-2")
    assert second.rows_written == 0

    table = runtime.store_for("orders", Layer.BRONZE).read(orders.bronze_table("order_placed"))
    sources = table.column("_ingest").combine_chunks().field("source").to_pylist()
    quarantined = runtime.store_for("orders", Layer.QUARANTINE).read(orders.quarantine_table())
    q_sources = quarantined.column("source").to_pylist()
    from_stream = sum(s.startswith("nats:EVENTS_ORDERS/order_placed") for s in sources + q_sources)
    assert from_stream == stored["order_placed"]
    assert sum(s.startswith("orders/order_placed/") for s in sources + q_sources) == landed
    event_ids = table.column("event_id").to_pylist()
    stream_ids = [e for e, s in zip(event_ids, sources, strict=True) if s.startswith("nats:")]
    assert len(set(stream_ids)) == len(stream_ids)


def test_an_event_without_id_is_published_and_then_quarantined(tmp_path: Path, nats_url: str) -> None:
    runtime = Runtime(
        Settings.load(project=MESH, env={"MESHLAKE_HOME": str(tmp_path / "home"), "MESHLAKE_NATS_URL": nats_url})
    )
    cls = runtime.schemas.message_class("meshlake.orders.v1.OrderPlaced")
    no_id = cls(order_id="O1", customer_id="C1")
    no_id.placed_at.FromSeconds(1_790_000_000)
    payload = no_id.SerializeToString()
    # without an id there is nothing to deduplicate on: both copies are kept
    assert publish_events(nats_url, "orders", "order_placed", [("", payload), ("", payload)]) == 2

    orders = runtime.domain("orders")
    contract = runtime.contract("orders", "order_placed")
    result = ingest_event(orders, "order_placed", contract, runtime.event_source, runtime, "run-1")
    assert (result.rows_written, result.quarantined) == (0, 2)
    quarantine = runtime.store_for("orders", Layer.QUARANTINE).read(orders.quarantine_table()).to_pylist()
    assert [q["reason"] for q in quarantine] == ["contract: event_id is missing"] * 2
    assert [q["payload"] for q in quarantine] == [payload, payload]


def test_a_run_drains_the_backlog_committing_every_max_rows_per_commit(tmp_path: Path, nats_url: str) -> None:
    """nats-server 2.10 and later end a filled pull with `409 Batch Completed`: a run still reads every pull."""
    runtime = Runtime(Settings.load(project=MESH, env={"MESHLAKE_HOME": str(tmp_path / "home")}))
    stored = publish_generated(runtime, nats_url, "orders", 3_000, seed=4)["order_placed"]
    orders = runtime.domain("orders")
    contract = runtime.contract("orders", "order_placed")
    with NatsEventSource(nats_url, batch_size=250) as source:
        result = ingest_event(orders, "order_placed", contract, source, runtime, "run-1", max_rows_per_commit=1_000)
        assert result.received == stored > 2_000
        assert len(result.commits) == -(-result.rows_written // 1_000)  # one commit per 1,000 rows and the rest
        assert source.backlog("orders", "order_placed") == 0


def test_a_run_takes_at_most_max_rows_per_run_and_the_next_run_goes_on(tmp_path: Path, nats_url: str) -> None:
    runtime = Runtime(Settings.load(project=MESH, env={"MESHLAKE_HOME": str(tmp_path / "home")}))
    stored = publish_generated(runtime, nats_url, "orders", 3_000, seed=5)["order_placed"]
    orders = runtime.domain("orders")
    contract = runtime.contract("orders", "order_placed")
    with NatsEventSource(nats_url, batch_size=250) as source:
        runs = [
            ingest_event(orders, "order_placed", contract, source, runtime, f"run-{i}", max_rows_per_run=1_000)
            for i in range(4)
        ]
        assert [r.received for r in runs] == [1_000, 1_000, stored - 2_000, 0]
        assert source.backlog("orders", "order_placed") == 0
    table = runtime.store_for("orders", Layer.BRONZE).read(orders.bronze_table("order_placed"))
    offsets = table.column("_ingest").combine_chunks().field("offset").to_pylist()
    assert len(set(offsets)) == len(offsets) == runs[0].rows_written + runs[1].rows_written + runs[2].rows_written
