"""A maintenance job and schedule per domain: compaction, expiry/vacuum and orphan removal of its tables."""

# No `from __future__ import annotations`: Dagster reads the context annotation at definition time.

import dagster as dg

from pipelines.core.domain import Domain
from pipelines.dagster.lineage import with_maintenance_lineage
from pipelines.dagster.resources import MeshlakeResource
from pipelines.dagster.run_logs import run_logs
from pipelines.services.event_log import step_events
from pipelines.services.maintenance import Maintained, maintain_domain


def _details(result: Maintained) -> dict[str, int | str]:
    discarded = {} if result.candidate_discarded is None else {"candidate_discarded": result.candidate_discarded}
    return {
        **discarded,
        "maintained_table": str(result.table),
        "data_files_before": result.files_before,
        "data_files_after": result.files_after,
        "rows_compacted": result.rows_compacted,
        "versions_expired": result.versions_expired,
        "files_deleted": result.files_deleted,
        "orphans_removed": result.orphans_removed,
    }


def _observation(result: Maintained) -> dg.AssetObservation | None:
    if result.asset is None:
        return None
    return dg.AssetObservation(asset_key=dg.AssetKey(list(result.asset)), metadata=_details(result))


def maintenance_definitions(domain: Domain) -> dg.Definitions:
    """`<domain>_maintenance`: one op maintaining every table of the domain, on the spec's schedule."""
    settings = domain.spec.maintenance
    description = (
        f"Compact small files, expire versions older than {settings.retention_hours:g} h and remove "
        f"orphan files of every {domain.name} table."
    )

    @dg.op(name=f"{domain.name}_maintain_tables", description=description, tags={"meshlake/domain": domain.name})
    @with_maintenance_lineage(domain, description)
    def maintain(context: dg.OpExecutionContext, meshlake: MeshlakeResource) -> None:
        runtime = meshlake.runtime()
        with (
            run_logs(context.log),
            step_events(runtime, domain.name, f"{domain.name}/maintenance", context.run.run_id) as events,
        ):

            def report(result: Maintained) -> None:
                discarded = result.candidate_discarded
                context.log.info(
                    f"{result.table} ({result.table_format}): data files {result.files_before} -> "
                    f"{result.files_after}, {result.versions_expired} versions expired, "
                    f"{result.files_deleted + result.orphans_removed} files deleted"
                    + ("" if discarded is None else f", refused candidate {discarded} discarded (past retention)")
                )
                if (observation := _observation(result)) is not None:
                    context.log_event(observation)
                events.maintained(result.table, _details(result))

            maintain_domain(domain, runtime, report, readers=runtime.domains.values())

    @dg.job(
        name=f"{domain.name}_maintenance",
        description=f"Table maintenance of the {domain.name} domain (compaction, expiry/vacuum, orphans).",
        tags={"meshlake/domain": domain.name},
    )
    def job() -> None:
        maintain()

    schedule = dg.ScheduleDefinition(
        name=f"{domain.name}_maintenance_schedule",
        job=job,
        cron_schedule=settings.schedule,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Maintain the {domain.name} tables on the domain's maintenance schedule.",
    )
    return dg.Definitions(jobs=[job], schedules=[schedule])
