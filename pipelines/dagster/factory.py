"""Builds a domain's Dagster definitions from its spec: bronze, silver and gold assets, checks, schedule."""

# No `from __future__ import annotations`: Dagster reads the context annotation at definition time.

from collections.abc import Callable
from typing import Any

import dagster as dg

from pipelines.core.domain import Domain
from pipelines.core.event_contract import EventContract
from pipelines.core.names import Layer
from pipelines.dagster.metadata import column_schema, table_metadata
from pipelines.dagster.resources import MeshlakeResource
from pipelines.services.build import BuildResult, build_product, build_silver
from pipelines.services.ingest import ingest_event

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
    )
    def bronze(context: dg.AssetExecutionContext, meshlake: MeshlakeResource) -> dg.MaterializeResult:
        runtime = meshlake.runtime()
        result = ingest_event(
            domain, event, runtime.contract(domain.name, event), runtime.landing, runtime, context.run.run_id
        )
        store = runtime.store_for(domain.name, Layer.BRONZE)
        table = domain.bronze_table(event)
        history = store.history(table)
        rate = result.quarantined / result.received if result.received else 0.0
        limit = spec.quarantine_rate_max
        return dg.MaterializeResult(
            metadata={
                **table_metadata(
                    store.format.value,
                    store.location(table),
                    history[-1].version if history else 0,
                    result.rows_written,
                    store.schema(table),
                ),
                "rows_written": result.rows_written,
                "quarantined": result.quarantined,
                "quarantine_reasons": result.reasons,
                "sources": [f"{p.source}[{p.start}:{p.end}]" for p in result.positions][:100],
                "schema_version": contract.schema_version,
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


def _build_metadata(result: BuildResult, fmt: str) -> dict[str, Any]:
    return {
        **table_metadata(fmt, result.location, result.version, result.rows, result.schema),
        "upstream_versions": result.upstream,
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
        automation_condition=dg.AutomationCondition.eager(),
        pool=f"table:{domain.name}.silver_{entity}",
    )
    def silver(context: dg.AssetExecutionContext, meshlake: MeshlakeResource) -> dg.MaterializeResult:
        runtime = meshlake.runtime()
        result = build_silver(domain, entity, runtime, context.run.run_id)
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
        automation_condition=dg.AutomationCondition.eager(),
        pool=f"table:{domain.name}.{product}",
    )
    def gold(context: dg.AssetExecutionContext, meshlake: MeshlakeResource) -> dg.MaterializeResult:
        runtime = meshlake.runtime()
        result = build_product(domain, product, runtime, context.run.run_id)
        actual = runtime.format_for(domain.name, Layer.GOLD, product).value
        return dg.MaterializeResult(metadata={**_build_metadata(result, actual), "product": f"{domain.name}.{product}"})

    return gold


def domain_definitions(domain: Domain, contract_of: ContractOf) -> dg.Definitions:
    """Every asset, check, job and schedule of one domain."""
    assets: list[dg.AssetsDefinition] = [
        _bronze_asset(domain, event, contract_of(domain.name, event)) for event in domain.spec.events
    ]
    assets += [_silver_asset(domain, entity) for entity in domain.spec.entities]
    assets += [_gold_asset(domain, product) for product in domain.spec.products]
    job = dg.define_asset_job(f"{domain.name}_all", selection=dg.AssetSelection.groups(domain.name))
    schedule = dg.ScheduleDefinition(
        name=f"{domain.name}_hourly",
        job=job,
        cron_schedule=domain.spec.schedule,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return dg.Definitions(assets=assets, jobs=[job], schedules=[schedule])
