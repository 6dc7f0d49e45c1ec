"""Sensors that start bronze runs: new landing files, and a backlog in the NATS JetStream stream."""

# No `from __future__ import annotations`: Dagster reads the sensor's parameter annotations.

import hashlib
from collections.abc import Iterable

import dagster as dg

from pipelines.core.domain import Domain
from pipelines.core.names import Layer
from pipelines.core.positions import Ledger
from pipelines.dagster.resources import MeshlakeResource

SENSOR_INTERVAL_S = 30
TRIGGER_TAG = "meshlake/trigger"
IN_PROCESS = {"execution": {"config": {"in_process": True}}}
"""Run config of a one-asset run: its step runs in the run worker, no fork server (see `definitions`)."""
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def bronze_key(domain: str, event: str) -> dg.AssetKey:
    """The asset key of `<domain>.bronze_<event>`."""
    return dg.AssetKey([domain, "bronze", event])


def landing_digest(names: Iterable[str]) -> str:
    """A stable digest of a set of landing file names (order does not matter)."""
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:32]


def pending_landing_files(meshlake: MeshlakeResource, domain: str, event: str) -> list[str]:
    """Names of complete landing files the bronze table's ledger has not (fully) consumed."""
    runtime = meshlake.runtime()
    store = runtime.store_for(domain, Layer.BRONZE)
    table = runtime.domain(domain).bronze_table(event)
    history = store.history(table) if store.exists(table) else []
    ledger = Ledger.from_commits(c.properties for c in history)
    return [p.name for p in runtime.landing.pending_files(domain, event, ledger)]


def landing_sensor(domain: Domain, event: str) -> dg.SensorDefinition:
    """Requests a bronze run when complete files the table has not consumed wait in the landing folder.

    The cursor (and run key) is a digest of the pending file names: the same pending set is requested
    once, so a failing run is not retried every tick (run retries and the schedule do that); any new
    file changes the set and requests again.
    """
    key = bronze_key(domain.name, event)

    @dg.sensor(
        name=f"{domain.name}_{event}_landing",
        asset_selection=[key],
        minimum_interval_seconds=SENSOR_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"New files in landing/{domain.name}/{event}/ → materialise {key.to_user_string()}",
    )
    def landing(context: dg.SensorEvaluationContext, meshlake: MeshlakeResource) -> dg.SensorResult | dg.SkipReason:
        pending = pending_landing_files(meshlake, domain.name, event)
        if not pending:
            return dg.SkipReason(f"no new files in landing/{domain.name}/{event}/")
        digest = landing_digest(pending)
        if digest == context.cursor:
            return dg.SkipReason(f"{len(pending)} pending file(s) already requested")
        request = dg.RunRequest(
            run_key=f"landing-{digest}",
            asset_selection=[key],
            run_config=IN_PROCESS,
            tags={TRIGGER_TAG: "landing", "meshlake/pending_files": str(len(pending))},
        )
        return dg.SensorResult(run_requests=[request], cursor=digest)

    return landing


def stream_backlog_sensor(domain: Domain, event: str) -> dg.SensorDefinition:
    """Requests a bronze run while `events.<domain>.<event>` holds messages the bronze table has not consumed.

    Watches nothing (skips) unless the resource has a NATS URL (`MESHLAKE_NATS_URL`). A request is made
    only when no run of this sensor is queued or running, so a backlog that outlives one tick does not
    pile up runs.
    """
    key = bronze_key(domain.name, event)
    name = f"{domain.name}_{event}_stream"

    @dg.sensor(
        name=name,
        asset_selection=[key],
        minimum_interval_seconds=SENSOR_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Backlog on NATS subject events.{domain.name}.{event} → materialise {key.to_user_string()}",
    )
    def stream(context: dg.SensorEvaluationContext, meshlake: MeshlakeResource) -> dg.SensorResult | dg.SkipReason:
        source = meshlake.runtime().nats
        if source is None:
            return dg.SkipReason("MESHLAKE_NATS_URL is not set: no stream to watch")
        backlog = source.backlog(domain.name, event)
        if backlog == 0:
            return dg.SkipReason(f"no backlog on events.{domain.name}.{event}")
        in_flight = context.instance.get_run_records(
            dg.RunsFilter(statuses=_IN_FLIGHT, tags={"dagster/sensor_name": name}), limit=1
        )
        if in_flight:
            return dg.SkipReason(f"backlog {backlog}: run {in_flight[0].dagster_run.run_id} is already on it")
        tags = {TRIGGER_TAG: "stream", "meshlake/backlog": str(backlog)}
        request = dg.RunRequest(asset_selection=[key], run_config=IN_PROCESS, tags=tags)
        return dg.SensorResult(run_requests=[request])

    return stream


def bronze_sensors(domain: Domain) -> list[dg.SensorDefinition]:
    """Both sensors of every bronze asset of a domain."""
    return [sensor(domain, event) for event in domain.spec.events for sensor in (landing_sensor, stream_backlog_sensor)]


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """Evaluates every asset's automation condition (silver and gold are eager), running by default."""
    return dg.AutomationConditionSensorDefinition(
        "meshlake_automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=SENSOR_INTERVAL_S,
        description="Declarative automation: silver and gold follow their upstream tables.",
    )
