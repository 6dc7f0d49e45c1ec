"""Exactly-once across table maintenance: the most aggressive retention never makes ingestion re-read or
silver miss or re-read anything, with or without a compaction before the expiry, on both formats."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable

from pipelines.adapters.landing.writer import write_landing_file
from pipelines.bootstrap import Runtime
from pipelines.core.domain import Domain
from pipelines.core.names import Layer
from pipelines.generation import generate_landing
from pipelines.ports.maintenance import UPSTREAM_PROPERTY, carried_properties
from pipelines.services.build import build_product, build_silver
from pipelines.services.incremental import last_upstream
from pipelines.services.ingest import ingest_event
from pipelines.services.maintenance import checkpoint_state, maintain_domain
from pipelines.services.replay import ReplayResult, replay_quarantine
from tests import oracle
from tests.integration.ingest_helpers import ORDER_PLACED, orders_runtime
from tests.landed import landed

EVENTS = ("order_placed", "order_cancelled")  # what silver_orders reads
T0 = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)


def _aggressive(domain: Domain, compaction: bool) -> Domain:
    """The domain with retention and orphan age 0, compacting any two small files or (`compaction=False`)
    none, so that expiry runs on uncompacted tables."""
    # without compaction: a valid setting that never finds enough small files
    settings = {"retention_hours": 0, "orphan_age_hours": 0, "min_small_files": 2 if compaction else 1_000_000}
    maintenance = domain.spec.maintenance.model_copy(update=settings)
    return dataclasses.replace(domain, spec=domain.spec.model_copy(update={"maintenance": maintenance}))


def _replay(runtime: Runtime, at: datetime) -> ReplayResult:
    domain, contract = runtime.domain("orders"), lambda event: runtime.contract("orders", event)
    return replay_quarantine(domain, contract, runtime, f"replay-{at:%H%M}", clock=lambda: at)


def _land(runtime: Runtime, seed: int, files: int) -> None:
    """Generated events in `files` files per event type, and a file of undecodable payloads."""
    generate_landing(runtime, "orders", 80, seed=seed, files=files)
    garbage = [b"\xff\xff\xff\xff", b"\x08"]
    write_landing_file(runtime.settings.landing_dir, "orders", "order_placed", f"zz-garbage-{seed}", garbage)


def _ingest(runtime: Runtime, run_id: str) -> dict[str, int]:
    domain = runtime.domain("orders")
    contracts = {e: runtime.contract("orders", e) for e in domain.spec.events}
    return {
        e: ingest_event(domain, e, contracts[e], runtime.landing, runtime, run_id).rows_written
        for e in domain.spec.events
    }


def _bronze_positions(runtime: Runtime, event: str) -> list[tuple[str, int]]:
    store = runtime.store_for("orders", Layer.BRONZE)
    ingest = store.read(runtime.domain("orders").bronze_table(event), ["_ingest"]).column("_ingest").combine_chunks()
    return sorted(zip(ingest.field("source").to_pylist(), ingest.field("offset").to_pylist(), strict=True))


def _quarantined(runtime: Runtime) -> list[tuple[str, str, int]]:
    store = runtime.store_for("orders", Layer.QUARANTINE)
    rows = store.read(runtime.domain("orders").quarantine_table(), ["event", "source", "offset"])
    return sorted(zip(*(rows.column(c).to_pylist() for c in ("event", "source", "offset")), strict=True))


def _silver(runtime: Runtime) -> pa.Table:
    store = runtime.store_for("orders", Layer.SILVER)
    data = store.read(runtime.domain("orders").silver_table("orders"))
    return data.sort_by([(name, "ascending") for name in ("order_id",)])


@pytest.mark.parametrize("compaction", [True, False], ids=["compacted", "expiry-only"])
@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_after_aggressive_maintenance_every_event_lands_once_and_silver_reads_exactly_the_new_rows(
    make_runtime: Callable[..., Runtime], fmt: str, compaction: bool
) -> None:
    runtime = make_runtime(fmt)
    domain = runtime.domain("orders")
    for seed in range(3):
        _land(runtime, seed, files=2)
        _ingest(runtime, f"r{seed}")
        build_silver(domain, "orders", runtime, f"r{seed}")
    expired: dict[str, int] = {}
    for cycle in (1, 2):  # the second cycle expires what the first one's commits carried
        _land(runtime, 10 * cycle, files=2)
        pending = _ingest(runtime, f"c{cycle}")  # bronze rows silver has not read yet
        silver_before = _silver(runtime)

        for done in maintain_domain(_aggressive(domain, compaction), runtime):
            expired[str(done.table)] = expired.get(str(done.table), 0) + done.versions_expired
            assert (done.rows_compacted > 0) <= compaction
        assert _silver(runtime).equals(silver_before)

        _land(runtime, 10 * cycle + 1, files=1)  # one new file per event type, and a new reject
        new = _ingest(runtime, f"c{cycle}-after")  # over every landing file, the old ones included
        assert all(new[e] > 0 for e in EVENTS)
        rejected = []
        for event in domain.spec.events:
            events = landed(runtime, "orders", event)
            assert _bronze_positions(runtime, event) == sorted((e.source, e.offset) for e in events if e.valid)
            rejected += [(event, e.source, e.offset) for e in events if not e.valid]
        assert len(rejected) >= 10 and _quarantined(runtime) == sorted(rejected)  # each reject exactly once

        silver = build_silver(domain, "orders", runtime, f"c{cycle}-silver")
        assert silver.details["mode"] == "incremental"
        assert silver.details["rows_scanned"] == sum(pending[e] + new[e] for e in EVENTS)  # no re-read, no miss

    assert all(expired[t] > 0 for t in ("orders.bronze_order_placed", "orders.quarantine", "orders.silver_orders"))
    if fmt == "delta":  # the log itself was cleaned up, not only the data files
        bronze = Path(runtime.store_for("orders", Layer.BRONZE).location(domain.bronze_table("order_placed")))
        assert not (bronze / "_delta_log" / f"{1:020d}.json").exists()
    incremental = _silver(runtime)
    build_silver(domain, "orders", runtime, "rebuild", full=True)
    assert _silver(runtime).equals(incremental)


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_a_reject_replayed_only_after_maintenance_still_reaches_bronze(tmp_path: Path, fmt: str) -> None:
    runtime = orders_runtime(tmp_path / "home", fmt)
    domain, cls = runtime.domain("orders"), runtime.schemas.message_class(ORDER_PLACED)

    def order(n: int, placed: datetime) -> bytes:
        msg = cls(event_id=f"e{n}", order_id=f"O{n}", customer_id="C1")
        msg.placed_at.FromDatetime(placed)
        return bytes(msg.SerializeToString())

    late, later = order(2, T0 + timedelta(hours=3)), order(1, T0 + timedelta(hours=5))
    write_landing_file(runtime.settings.landing_dir, "orders", "order_placed", "a", [order(0, T0), later, late])
    contract = runtime.contract("orders", "order_placed")
    ingest_event(domain, "order_placed", contract, runtime.landing, runtime, "run-1", clock=lambda: T0)
    assert _replay(runtime, T0 + timedelta(hours=2, minutes=30)).replayed == 1  # e2 is no longer in the future

    maintained = {str(m.table): m for m in maintain_domain(_aggressive(domain, compaction=True), runtime)}
    assert maintained["orders.bronze_order_placed"].rows_compacted == 2

    assert _replay(runtime, T0 + timedelta(hours=5)).replayed == 1  # e1's turn: not taken for replayed before
    bronze = runtime.store_for("orders", Layer.BRONZE).read(domain.bronze_table("order_placed"))
    assert sorted(bronze.column("event_id").to_pylist()) == ["e0", "e1", "e2"]
    assert _quarantined(runtime) == []


def test_a_watermark_committed_while_a_delta_compaction_runs_is_the_one_kept(tmp_path: Path) -> None:
    runtime = orders_runtime(tmp_path / "home", "delta")
    store, table = runtime.store_for("orders", Layer.SILVER), runtime.domain("orders").silver_table("orders")
    schema = pa.schema([pa.field("order_id", pa.string())])
    store.ensure_table(table, schema)
    for n in range(1, 4):  # three incremental builds, each recording the bronze version it read up to
        store.append(table, pa.table({"order_id": [f"O{n}"]}, schema), {UPSTREAM_PROPERTY: f'{{"orders.bronze": {n}}}'})
    seen = {c.version for c in store.history(table)}
    compacting = carried_properties(store.history(table), "compaction")  # what the compaction read
    meanwhile = {UPSTREAM_PROPERTY: '{"orders.bronze": 4}'}  # a build commits while the compaction runs
    store.append(table, pa.table({"order_id": ["O4"]}, schema), meanwhile)
    DeltaTable(store.location(table)).optimize.compact(commit_properties=CommitProperties(custom_metadata=compacting))
    assert last_upstream(store.history(table)) == {"orders.bronze": 3}  # the compaction's stale watermark

    assert checkpoint_state(store, table, seen) is not None
    runtime.maintenance(store).expire(table, timedelta(0))
    assert last_upstream(store.history(table)) == {"orders.bronze": 4}  # the next build reads from 4, not 3
    assert sorted(store.read(table).column("order_id").to_pylist()) == ["O1", "O2", "O3", "O4"]


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_an_incremental_gold_product_stays_incremental_and_right_after_aggressive_maintenance(
    make_runtime: Callable[..., Runtime], fmt: str
) -> None:
    runtime = make_runtime(fmt)
    domain = runtime.domain("payments")
    classes = {e.message: runtime.schemas.message_class(e.message) for e in domain.spec.events.values()}
    assert domain.generator is not None
    events = list(domain.generator(classes, 3_000, 3))
    cut = len(events) - len(events) // 50

    def land_ingest_silver(part: list[tuple[str, Any]], name: str) -> None:
        for event in domain.spec.events:
            payloads = [m.SerializeToString() for e, m in part if e == event]
            write_landing_file(runtime.settings.landing_dir, "payments", event, name, payloads)
            ingest_event(domain, event, runtime.contract("payments", event), runtime.landing, runtime, name)
        for entity in domain.spec.entities:
            build_silver(domain, entity, runtime, name)

    land_ingest_silver(events[:cut], "run-1")
    assert build_product(domain, "settlement_summary", runtime, "run-1").details["mode"] == "full"
    land_ingest_silver(events[cut:], "run-2")  # silver changes gold has not read yet
    maintain_domain(_aggressive(domain, compaction=True), runtime)

    second = build_product(domain, "settlement_summary", runtime, "run-2")
    assert second.details["mode"] == "incremental"
    table = domain.product_table("settlement_summary")
    rows = runtime.store_for("payments", Layer.GOLD, "settlement_summary").read(table).to_pylist()
    built = {
        (r["day"], r["currency"]): (r["captured"], r["captures"], r["refunded"], r["refunds"], r["net"]) for r in rows
    }
    assert built == oracle.settlement_summary(runtime)
