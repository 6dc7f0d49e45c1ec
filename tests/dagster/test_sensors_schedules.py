"""Schedule, sensor and automation ticks launch the right runs (Dagster's testing APIs, real tables, real NATS)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import dagster as dg
import pytest

from pipelines.adapters.nats.publisher import publish_events
from pipelines.adapters.nats.server import NatsServer, NatsServerNotFoundError
from pipelines.bootstrap import Runtime
from pipelines.dagster.resources import MeshlakeResource
from pipelines.dagster.sensors import landing_digest
from pipelines.definitions import STEP_EXECUTOR, build_definitions
from pipelines.generation import generate_landing
from pipelines.settings import Settings
from tests.paths import MESH

BRONZE = dg.AssetKey(["orders", "bronze", "order_placed"])
ALL_BRONZE = {dg.AssetKey(["orders", "bronze", e]) for e in ("order_placed", "order_cancelled", "order_item_returned")}
SILVER = dg.AssetKey(["orders", "silver", "orders"])
RETURNS = dg.AssetKey(["orders", "silver", "returns"])
GOLD = dg.AssetKey(["orders", "gold", "daily_revenue"])


class SensorTick(Protocol):
    """What a sensor's `evaluate_tick` returns (Dagster's `SensorExecutionData`, not exported)."""

    @property
    def run_requests(self) -> Sequence[dg.RunRequest] | None: ...

    @property
    def skip_message(self) -> str | None: ...

    @property
    def cursor(self) -> str | None: ...


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_definitions()


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    return Runtime(Settings.load(project=MESH, env={"MESHLAKE_HOME": str(tmp_path / "home")}))


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def tick(
    defs: dg.Definitions,
    name: str,
    resource: MeshlakeResource,
    instance: dg.DagsterInstance,
    cursor: str | None = None,
) -> SensorTick:
    sensor = defs.resolve_sensor_def(name)
    # A context manager, as the sensor daemon uses: the resource stops what a step started on teardown.
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"meshlake": resource}, definitions=defs, sensor_name=name
    ) as context:
        return sensor.evaluate_tick(context)


def materialize(
    defs: dg.Definitions, keys: list[dg.AssetKey], resource: MeshlakeResource, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    result = dg.materialize(assets, selection=keys, resources={"meshlake": resource}, instance=instance)
    assert result.success
    return result


def test_every_bronze_asset_has_both_sensors_and_automation_runs_by_default(defs: dg.Definitions) -> None:
    sensors = {s.name: s for s in defs.sensors or []}
    assert set(sensors) >= {"orders_order_placed_landing", "orders_order_placed_stream", "meshlake_automation"}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())
    graph = defs.resolve_asset_graph()
    for name in ("orders_order_placed_landing", "orders_order_placed_stream"):
        selection = sensors[name].asset_selection
        assert selection is not None
        assert selection.resolve(graph) == {BRONZE}
    automated = sensors["meshlake_automation"].asset_selection
    assert automated is not None
    assert {SILVER, GOLD} <= automated.resolve(graph)
    repo = defs.get_repository_def()
    assert "default_automation_condition_sensor" not in {s.name for s in repo.sensor_defs}


def test_schedule_tick_launches_the_bronze_job(
    defs: dg.Definitions, runtime: Runtime, instance: dg.DagsterInstance
) -> None:
    schedule = defs.resolve_schedule_def("orders_hourly")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime(2026, 5, 1, 9, tzinfo=UTC))
    data = schedule.evaluate_tick(context)
    [request] = data.run_requests or []
    assert request.job_name in (None, "orders_bronze") and schedule.job_name == "orders_bronze"
    job = defs.resolve_job_def("orders_bronze")
    assert set(job.asset_layer.selected_asset_keys) == ALL_BRONZE

    generate_landing(runtime, "orders", 200, seed=3, files=1)
    resource = MeshlakeResource(home=str(runtime.settings.home))
    result = job.execute_in_process(instance=instance, resources={"meshlake": resource})
    assert result.success
    materialized = {e.materialization.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == ALL_BRONZE


def test_landing_sensor_requests_bronze_once_per_new_set_of_files(
    defs: dg.Definitions, runtime: Runtime, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    resource = MeshlakeResource(home=str(runtime.settings.home))
    name = "orders_order_placed_landing"
    assert "no new files" in (tick(defs, name, resource, instance).skip_message or "")

    first = [p for p in generate_landing(runtime, "orders", 300, seed=1, files=2) if p.event == "order_placed"]
    data = tick(defs, name, resource, instance)
    [request] = data.run_requests or []
    assert request.asset_selection == [BRONZE]
    assert data.cursor == landing_digest(p.name for p in first)
    assert request.run_key == f"landing-{data.cursor}"
    assert request.tags["meshlake/pending_files"] == "2"
    assert request.run_config == {"execution": {"config": {"in_process": True}}}  # one step: no fork server

    again = tick(defs, name, resource, instance, cursor=data.cursor)
    assert again.run_requests == [] and "already requested" in (again.skip_message or "")

    job = defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def is STEP_EXECUTOR
    monkeypatch.setenv("MESHLAKE_HOME", str(runtime.settings.home))  # the code location's resource reads it
    resolved = dg.validate_run_config(job, request.run_config)  # the daemon would launch it as is
    assert list(resolved["execution"]["meshlake_executor"]) == ["in_process"]

    materialize(defs, [BRONZE], resource, instance)
    done = tick(defs, name, resource, instance, cursor=data.cursor)
    assert done.run_requests == [] and "no new files" in (done.skip_message or "")

    second = [p for p in generate_landing(runtime, "orders", 100, seed=2, files=1) if p.event == "order_placed"]
    [request] = tick(defs, name, resource, instance, cursor=data.cursor).run_requests or []
    assert request.tags["meshlake/pending_files"] == "1"
    assert request.run_key == f"landing-{landing_digest(p.name for p in second)}"


def test_automation_requests_silver_and_gold_after_bronze_changes(
    defs: dg.Definitions, runtime: Runtime, instance: dg.DagsterInstance
) -> None:
    resource = MeshlakeResource(home=str(runtime.settings.home))
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0  # bronze missing: nothing downstream can run

    generate_landing(runtime, "orders", 300, seed=4, files=1)
    materialize(defs, sorted(ALL_BRONZE), resource, instance)
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert second.total_requested == 3  # silver orders and returns, and gold order_facts (unpartitioned, with them)
    assert second.get_num_requested(SILVER) == 1 and second.get_num_requested(GOLD) == 0

    materialize(defs, [SILVER, RETURNS, dg.AssetKey(["orders", "gold", "order_facts"])], resource, instance)
    third = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
    daily = defs.resolve_assets_def(GOLD)
    assert daily.partitions_def is not None
    assert third.get_requested_partitions(GOLD) == set(daily.partitions_def.get_partition_keys())  # late events
    assert daily.backfill_policy == dg.BackfillPolicy.single_run()  # ... change old days: every day, in one run
    assert third.total_requested == third.get_num_requested(GOLD)

    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    tags = {"dagster/asset_partition_range_start": "2026-09-01", "dagster/asset_partition_range_end": "2026-10-31"}
    run = dg.materialize(assets, selection=[GOLD], resources={"meshlake": resource}, instance=instance,
                         tags=tags | {"dagster/from_automation_condition": "true"})  # fmt: skip
    modes = [e.materialization.metadata["mode"].value for e in run.get_asset_materialization_events()]
    assert modes == ["full"] * 61  # one run, an event per day; the first build reads everything
    fourth = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=third.cursor)
    assert fourth.total_requested == 0


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    try:
        server = NatsServer(tmp_path / "nats", executable=Settings.load().nats_server)
        server.start()
    except NatsServerNotFoundError as exc:
        pytest.fail(f"{exc} — the stream-backlog sensor test needs a real nats-server", pytrace=False)
    yield server.url
    server.stop()


def test_stream_backlog_sensor_requests_bronze_while_messages_wait(
    defs: dg.Definitions, runtime: Runtime, instance: dg.DagsterInstance, nats_url: str
) -> None:
    name = "orders_order_placed_stream"
    unset = tick(defs, name, MeshlakeResource(home=str(runtime.settings.home)), instance)
    assert unset.run_requests == [] and "MESHLAKE_NATS_URL is not set" in (unset.skip_message or "")

    resource = MeshlakeResource(home=str(runtime.settings.home), nats_url=nats_url)
    assert "no backlog" in (tick(defs, name, resource, instance).skip_message or "")
    domain = runtime.domain("orders")
    classes = {e.message: runtime.schemas.message_class(e.message) for e in domain.spec.events.values()}
    assert domain.generator is not None
    placed = [m for name, m in domain.generator(classes, 150, 5) if name == "order_placed"]
    valid = [m for m in placed if m.event_id and m.order_id and 0 < m.placed_at.seconds < 4e9]  # drop contract breaks
    events = [(m.event_id, m.SerializeToString()) for m in valid]
    assert publish_events(nats_url, "orders", "order_placed", events) == len({i for i, _ in events})

    [request] = tick(defs, name, resource, instance).run_requests or []
    assert request.asset_selection == [BRONZE]
    assert request.tags["meshlake/backlog"] == str(len({i for i, _ in events}))

    running = dg.DagsterRun(
        job_name="__ASSET_JOB", status=dg.DagsterRunStatus.STARTED, tags={"dagster/sensor_name": name}
    )
    instance.add_run(running)
    busy = tick(defs, name, resource, instance)
    assert busy.run_requests == [] and running.run_id in (busy.skip_message or "")
    instance.delete_run(running.run_id)

    result = materialize(defs, [BRONZE], resource, instance)
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["rows_written"].value == len({i for i, _ in events})
    assert "no backlog" in (tick(defs, name, resource, instance).skip_message or "")
