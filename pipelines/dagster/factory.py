"""Builds a domain's Dagster definitions from its spec: assets, checks, jobs, schedule and sensors."""

# No `from __future__ import annotations`: Dagster reads the context annotation at definition time.

from collections.abc import Callable
from typing import Any

import dagster as dg

from pipelines.core.domain import Domain
from pipelines.core.event_contract import EventContract
from pipelines.core.names import Layer, TableId
from pipelines.dagster.checks import product_check_results, product_check_specs, product_freshness
from pipelines.dagster.lineage import bronze_tables, gold_tables, silver_tables, with_lineage
from pipelines.dagster.maintenance import maintenance_definitions
from pipelines.dagster.metadata import column_schema, table_metadata
from pipelines.dagster.partitions import (
    SINGLE_RUN,
    GoldRunConfig,
    SilverRunConfig,
    gold_automation,
    partition_window,
    product_partitions,
    silver_automation,
)
from pipelines.dagster.refusals import RefusedBuild, refusing
from pipelines.dagster.resources import MeshlakeResource
from pipelines.dagster.run_logs import with_run_logs
from pipelines.dagster.sensors import bronze_sensors
from pipelines.ports.table_store import TableStore
from pipelines.services.build import BuildResult, build_silver, published_inputs
from pipelines.services.event_log import step_events
from pipelines.services.ingest import ingest_event
from pipelines.services.publish import publish_product, record_quality
from pipelines.services.wap import write_audit_publish

ContractOf = Callable[[str, str], EventContract]


def _owners(owner: str) -> list[str]:
    return [owner] if "@" in owner else [f"team:{owner}"]


def _bronze_asset(domain: Domain, event: str, contract: EventContract) -> dg.AssetsDefinition:
    spec = domain.spec
    key = dg.AssetKey([domain.name, "bronze", event])
    check = dg.AssetCheckSpec(
        "quarantine_rate", asset=key, description="Share of rejected events stays under the domain's limit"
    )

    @dg.asset(
        key=key,
        group_name=domain.name,
        owners=_owners(spec.owner),
        kinds={"protobuf", spec.formats.bronze.value},
        description=spec.events[event].description or f"{contract.message} events, as received",
        metadata={"dagster/column_schema": column_schema(contract.bronze_schema(), dict(contract.pii))},
        check_specs=[check],
        pool=f"table:{domain.name}.bronze_{event}",
        backfill_policy=SINGLE_RUN,
    )
    @with_run_logs
    @with_lineage(domain, Layer.BRONZE, event, spec.events[event].description, bronze_tables(domain, event))
    def bronze(context: dg.AssetExecutionContext, meshlake: MeshlakeResource) -> dg.MaterializeResult:
        runtime = meshlake.runtime()
        store = runtime.store_for(domain.name, Layer.BRONZE)
        table = domain.bronze_table(event)
        with step_events(runtime, domain.name, key.to_user_string(), context.run.run_id) as events:
            current = runtime.contract(domain.name, event)
            result = ingest_event(
                domain,
                event,
                current,
                runtime.event_source,
                runtime,
                context.run.run_id,
                max_rows_per_commit=runtime.settings.ingest_max_rows_per_commit,
                max_rows_per_run=runtime.settings.ingest_max_rows_per_run,
                descriptors=runtime.domain_schemas(domain.name).descriptor_set,
            )
            events.schema_evolved(table, result.schema_changes, result.schema_version_number)
            events.quarantined(domain.quarantine_table(), result.quarantined, result.reasons)
        history = store.history(table)
        rate = result.quarantined / result.received if result.received else 0.0
        limit = spec.quarantine_rate_max
        return dg.MaterializeResult(
            metadata={
                **table_metadata(
                    store.format.value,
                    store.location(table),
                    history[-1].version if history else 0,
                    _table_rows(store, table, current.event_id),
                    store.schema(table),
                ),
                "rows_written": result.rows_written,
                "quarantined": result.quarantined,
                "quarantine_reasons": result.reasons,
                "damaged_files": result.damaged,  # quarantined whole: each file and why
                "sources": [f"{p.source}[{p.start}:{p.end}]" for p in result.positions][:100],
                "commits": len(result.commits),
                "schema_version": current.schema_version,
                "schema_version_number": result.schema_version_number,
                "schema_changes": result.schema_changes,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="quarantine_rate",
                    passed=rate <= limit,
                    metadata={"rate": rate, "limit": limit, "quarantined": result.quarantined},
                )
            ],
        )

    return bronze


def _table_rows(store: TableStore, table: TableId, column: str | None) -> int:
    """The table's row count, reading one column (the event id, else the first) of the current version."""
    return int(store.read(table, columns=[column or store.schema(table).names[0]]).num_rows)


def _build_metadata(result: BuildResult, fmt: str) -> dict[str, Any]:
    return {
        **table_metadata(fmt, result.location, result.version, result.rows, result.schema),
        "upstream_versions": result.upstream,
        **result.details,
    }


def _silver_asset(domain: Domain, entity: str) -> dg.AssetsDefinition:
    spec = domain.spec
    espec = spec.entities[entity]

    @dg.asset(
        key=[domain.name, "silver", entity],
        deps=[dg.AssetKey([domain.name, "bronze", e]) for e in espec.events],
        group_name=domain.name,
        owners=_owners(spec.owner),
        kinds={spec.formats.silver.value, "polars"},
        description=espec.description or f"{entity}: cleaned, deduplicated entity state",
        automation_condition=silver_automation(),
        pool=f"table:{domain.name}.silver_{entity}",
        backfill_policy=SINGLE_RUN,
    )
    @with_run_logs
    @with_lineage(domain, Layer.SILVER, entity, espec.description, silver_tables(domain, entity))
    def silver(
        context: dg.AssetExecutionContext, meshlake: MeshlakeResource, config: SilverRunConfig
    ) -> dg.MaterializeResult:
        runtime = meshlake.runtime()
        with step_events(runtime, domain.name, context.asset_key.to_user_string(), context.run.run_id):
            engine = runtime.engine_for(domain.name, entity=entity)  # rebuilds only: an upsert of changes runs here
            result = build_silver(domain, entity, runtime, context.run.run_id, config.full_rebuild, engine)
        fmt = runtime.format_for(domain.name, Layer.SILVER).value
        return dg.MaterializeResult(metadata=_build_metadata(result, fmt))

    return silver


def _input_key(domain: Domain, ref: str) -> dg.AssetKey:
    layer, _, name = ref.partition(".")
    return dg.AssetKey([domain.name, "silver", name] if layer == "silver" else [layer, "gold", name])


def _gold_asset(domain: Domain, product: str) -> dg.AssetsDefinition:
    spec = domain.spec
    pspec = spec.products[product]
    fmt = (pspec.format or spec.formats.gold).value

    @dg.asset(
        key=[domain.name, "gold", product],
        deps=[_input_key(domain, ref) for ref in pspec.inputs],
        group_name=domain.name,
        owners=_owners(spec.owner),
        kinds={fmt, "polars"},
        description=pspec.description,
        tags={"meshlake/product": f"{domain.name}.{product}", **{f"tag/{t}": "" for t in pspec.tags}},
        automation_condition=gold_automation(pspec),
        pool=f"table:{domain.name}.{product}",
        check_specs=product_check_specs(domain, product),
        freshness_policy=product_freshness(domain, product),
        partitions_def=product_partitions(pspec),
        backfill_policy=SINGLE_RUN,
    )
    @refusing
    @with_run_logs
    @with_lineage(domain, Layer.GOLD, product, pspec.description, gold_tables(domain, product))
    def gold(
        context: dg.AssetExecutionContext, meshlake: MeshlakeResource, config: GoldRunConfig
    ) -> dg.MaterializeResult:
        runtime = meshlake.runtime()
        with step_events(runtime, domain.name, context.asset_key.to_user_string(), context.run.run_id) as events:
            published_to = published_inputs(domain.name, [d.spec for d in runtime.domains.values()])
            window = partition_window(context, pspec)
            engine = runtime.engine_for(domain.name, product)
            audited = write_audit_publish(
                domain, product, runtime, context.run.run_id, published_to, window, config.full_rebuild, engine
            )
            result, publication = audited.build, audited.publication
            events.expectations(result.table, audited.outcomes)
            actual = runtime.format_for(domain.name, Layer.GOLD, product).value
            name = f"{domain.name}.{product}"
            registry = runtime.registry(domain.name)
            new_version = publication.published and publish_product(
                domain, product, result, registry, context.run.run_id, actual
            )
            events.publication(result.table, publication, result.rows, new_version)
            metadata = {
                **_build_metadata(result, actual),
                "product": name,
                "published": publication.published,
                "publication": publication.message,
                "catalog_new_version": new_version,
            }
            if web := runtime.settings.catalog_web_url or runtime.settings.catalog_url:
                metadata["catalog_page"] = dg.MetadataValue.url(f"{web.rstrip('/')}/products/{name}")
            record_quality(registry, name, context.run.run_id, audited.outcomes, publication)
            refused = None if publication.published else publication.candidate
            checks = product_check_results(domain, product, audited.outcomes, refused)
            if refused is not None:  # inside: the event log records the step failed, as Dagster shows it
                raise RefusedBuild(publication.message, refused, checks)
        return dg.MaterializeResult(metadata=metadata, check_results=checks)

    return gold


def domain_definitions(domain: Domain, contract_of: ContractOf) -> dg.Definitions:
    """Every asset, check, job, schedule and sensor of one domain.

    Bronze runs on the domain's schedule and from its sensors (landing files, stream backlog);
    silver and gold follow by declarative automation (`AutomationCondition.eager()`).
    """
    bronze = [_bronze_asset(domain, event, contract_of(domain.name, event)) for event in domain.spec.events]
    assets = [*bronze]
    assets += [_silver_asset(domain, entity) for entity in domain.spec.entities]
    assets += [_gold_asset(domain, product) for product in domain.spec.products]
    everything = dg.define_asset_job(
        f"{domain.name}_all",
        selection=dg.AssetSelection.groups(domain.name),
        description=f"Every asset of the {domain.name} domain, bronze to gold, over a range of its gold's partitions.",
    )
    ingest = dg.define_asset_job(
        f"{domain.name}_bronze",
        selection=dg.AssetSelection.assets(*bronze),
        description=f"Ingest every event of the {domain.name} domain into bronze.",
    )
    schedule = dg.ScheduleDefinition(
        name=f"{domain.name}_hourly",
        job=ingest,
        cron_schedule=domain.spec.schedule,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Ingest {domain.name} into bronze on the domain's schedule; silver and gold follow.",
    )
    return dg.Definitions.merge(
        dg.Definitions(assets=assets, jobs=[everything, ingest], schedules=[schedule], sensors=bronze_sensors(domain)),
        maintenance_definitions(domain),
    )
