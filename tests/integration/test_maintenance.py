"""Maintenance of a whole domain on real tables: fewer files, same rows, and pipelines carry on exactly once."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyiceberg.table import StaticTable

from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer, TableId
from pipelines.dagster.resources import MeshlakeResource
from pipelines.definitions import build_definitions
from pipelines.generation import generate_landing
from pipelines.services.build import build_silver
from pipelines.services.build_types import BuildResult
from pipelines.services.ingest import ingest_event
from pipelines.services.maintenance import KEYED_SMALL_FILE_BYTES, maintain_domain, owned_tables

ROUNDS = 8


def _round(runtime: Runtime, seed: int) -> tuple[dict[str, int], BuildResult]:
    generate_landing(runtime, "orders", 60, seed=seed, files=1)
    domain = runtime.domain("orders")
    written = {
        e: ingest_event(domain, e, runtime.contract("orders", e), runtime.landing, runtime, f"r{seed}").rows_written
        for e in domain.spec.events
    }
    return written, build_silver(domain, "orders", runtime, f"r{seed}")


def _contents(runtime: Runtime) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for owned in owned_tables(runtime.domain("orders")):
        store = runtime.store_for("orders", owned.layer, owned.product)
        if store.exists(owned.table):
            rows = store.read(owned.table).to_pylist()
            out[str(owned.table)] = sorted(map(repr, rows))
    return out


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_maintaining_a_domain_compacts_expires_and_the_next_runs_stay_incremental_and_exactly_once(
    make_runtime: Callable[..., Runtime], fmt: str
) -> None:
    runtime = make_runtime(fmt)
    for seed in range(ROUNDS):
        _round(runtime, seed)
    before = _contents(runtime)
    domain = runtime.domain("orders")
    spec = domain.spec.model_copy(
        update={"maintenance": domain.spec.maintenance.model_copy(update={"retention_hours": 0, "orphan_age_hours": 0})}
    )
    aggressive = type(domain)(spec=spec, transforms=domain.transforms, generator=domain.generator)

    results = {str(r.table): r for r in maintain_domain(aggressive, runtime)}
    bronze = results["orders.bronze_order_placed"]
    assert bronze.files_before >= ROUNDS and bronze.files_after < bronze.files_before // 4  # one per day partition
    assert results["orders.silver_orders"].files_after < results["orders.silver_orders"].files_before
    assert _contents(runtime) == before  # maintenance never changes a row

    written, silver = _round(runtime, ROUNDS)  # the bronze ledger and the silver watermark survived expiry
    assert written["order_placed"] > 0
    store = runtime.store_for("orders", Layer.BRONZE)
    placed = store.read(domain.bronze_table("order_placed"))
    assert placed.num_rows == len(before["orders.bronze_order_placed"]) + written["order_placed"]  # nothing re-read
    assert silver.details["mode"] == "incremental"
    assert silver.details["rows_scanned"] == written["order_placed"] + written["order_cancelled"]

    # what silver has read is reclaimed: at once on Iceberg; on Delta the log is cut at a checkpoint no
    # newer than silver's watermark, so the next maintenance after silver moved past this one's does it
    again = {str(r.table): r for r in maintain_domain(aggressive, runtime)}["orders.bronze_order_placed"]
    assert bronze.versions_expired + again.versions_expired > 0 and bronze.files_deleted + again.files_deleted > 0
    if fmt == "iceberg":
        assert bronze.versions_expired > 0 and bronze.files_deleted > 0


def test_the_maintenance_job_runs_on_its_schedule_and_reports_each_table(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime("delta")
    for seed in range(3):
        _round(runtime, seed)
    defs = build_definitions()
    schedule = defs.resolve_schedule_def("orders_maintenance_schedule")
    assert schedule.cron_schedule == runtime.domain("orders").spec.maintenance.schedule
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    resource = MeshlakeResource(home=str(runtime.settings.home), format="delta")
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("orders_maintenance").execute_in_process(
            instance=instance, resources={"meshlake": resource}
        )
    assert result.success
    observed = {
        e.asset_observation_data.asset_observation.asset_key.to_user_string()
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    }
    assert {"orders/bronze/order_placed", "orders/silver/orders"} <= observed


def _silver_files(runtime: Runtime, table: TableId) -> dict[str, int]:
    """The live data files of a silver table and their sizes, read with the format's own library."""
    store = runtime.store_for("orders", Layer.SILVER)
    if store.format.value == "iceberg":
        tasks = StaticTable.from_metadata(store.location(table)).scan().plan_files()
        return {t.file.file_path: t.file.file_size_in_bytes for t in tasks}
    actions = pa.table(DeltaTable(store.location(table)).get_add_actions(flatten=True)).to_pylist()
    return {a["path"]: a["size_bytes"] for a in actions}


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_maintenance_merges_the_tiny_files_of_silver_but_keeps_its_key_range_files(
    make_runtime: Callable[..., Runtime], fmt: str
) -> None:
    """Merging the key-range files would make the next incremental run rewrite the whole table."""
    runtime = make_runtime(fmt)
    generate_landing(runtime, "orders", 12_000, seed=99, files=1)
    domain = runtime.domain("orders")
    for event in domain.spec.events:
        ingest_event(domain, event, runtime.contract("orders", event), runtime.landing, runtime, "big")
    build_silver(domain, "orders", runtime, "big")
    for seed in range(ROUNDS):  # each adds a file of a few new orders
        _round(runtime, seed)
    table = domain.silver_table("orders")
    before = _silver_files(runtime, table)
    key_ranges = {path for path, size in before.items() if size > KEYED_SMALL_FILE_BYTES}

    result = next(r for r in maintain_domain(domain, runtime) if r.table == table)

    after = _silver_files(runtime, table)
    assert key_ranges and key_ranges <= set(after)  # untouched
    assert result.files_after < result.files_before == len(before) and len(after) == result.files_after
