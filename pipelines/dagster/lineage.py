"""OpenLineage events of each asset run: START before the body, COMPLETE with what it wrote, FAIL with its error.

Nothing happens unless openlineage-python is configured (see `pipelines.adapters.openlineage.emitter`).
Each asset run is an OpenLineage run of the job `<domain>.<layer>.<name>` in the namespace
`meshlake.<project folder>`, child of the Dagster run (the parent facet). Inputs and outputs are the
tables, named by their location; their schema facets carry the .proto's column docs; the gold output
and silver outputs carry the column lineage their transforms declare (`pipelines.core.lineage.derives`),
gold outputs one data-quality assertion per check of the run too (a refused build's FAIL carries the
candidate's version and the checks that refused it). A domain's maintenance op is the job
`<domain>.maintenance` (type `TASK`), writing every table of the domain that exists.
"""

# No `from __future__ import annotations`: Dagster reads the context annotation of the wrapped body.

import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import dagster as dg

from pipelines.adapters.openlineage.datasets import Assertion, DatasetRef, JobRef
from pipelines.adapters.openlineage.emitter import LineageEmitter
from pipelines.bootstrap import Runtime
from pipelines.core.domain import Domain
from pipelines.core.lineage import declared_sources
from pipelines.core.names import Layer, TableId
from pipelines.dagster.refusals import RefusedBuild
from pipelines.ports.table_store import TableStore
from pipelines.services.contracts import product_expectations
from pipelines.services.maintenance import owned_tables

_log = logging.getLogger(__name__)
Body = TypeVar("Body", bound=Callable[..., Any])


@dataclass(frozen=True)
class Table:
    """A table an asset reads or writes, with the store it lives in."""

    store: TableStore
    table: TableId


@dataclass(frozen=True)
class AssetTables:
    """What an asset run reads and writes; `columns` is the column lineage of the first output, by input name."""

    inputs: dict[str, Table]
    outputs: list[Table]
    columns: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    extra_inputs: list[str] = field(default_factory=list)
    """Locations read that are not tables (the landing folder of an event)."""


Plan = Callable[[Runtime], AssetTables]


def bronze_tables(domain: Domain, event: str) -> Plan:
    """An event's bronze run reads its landing folder and writes its bronze table and the quarantine."""

    def plan(runtime: Runtime) -> AssetTables:
        landing = f"{runtime.settings.landing_uri.rstrip('/')}/{domain.name}/{event}"
        return AssetTables(
            inputs={},
            outputs=[
                Table(runtime.store_for(domain.name, Layer.BRONZE), domain.bronze_table(event)),
                Table(runtime.store_for(domain.name, Layer.QUARANTINE), domain.quarantine_table()),
            ],
            extra_inputs=[landing],
        )

    return plan


def silver_tables(domain: Domain, entity: str) -> Plan:
    """An entity's silver run reads its events' bronze tables and writes its state (and history) table; the
    column lineage is what each event's conform function declares (its one input: that event's rows)."""

    def plan(runtime: Runtime) -> AssetTables:
        espec = domain.spec.entities[entity]
        bronze, silver = runtime.store_for(domain.name, Layer.BRONZE), runtime.store_for(domain.name, Layer.SILVER)
        outputs = [Table(silver, domain.silver_table(entity))]
        if espec.history:
            outputs.append(Table(silver, domain.history_table(entity)))
        columns: dict[str, list[tuple[str, str]]] = {}
        for event, conform in espec.events.items():
            function = domain.transforms.get(conform)
            for column, sources in (declared_sources(function) if function else {}).items():
                columns.setdefault(column, []).extend((event, source) for _, source in sources)
        return AssetTables(
            inputs={event: Table(bronze, domain.bronze_table(event)) for event in espec.events},
            outputs=outputs,
            columns=columns,
        )

    return plan


def gold_tables(domain: Domain, product: str) -> Plan:
    """A product's run reads its inputs (silver entities, products) and writes the product's table; its
    transform's declared column lineage maps the product's columns to the inputs' columns."""

    def plan(runtime: Runtime) -> AssetTables:
        pspec = domain.spec.products[product]
        inputs = {}
        for ref in pspec.inputs:
            layer, _, name = ref.partition(".")
            if layer == "silver":
                inputs[name] = Table(runtime.store_for(domain.name, Layer.SILVER), domain.silver_table(name))
            else:
                inputs[name] = Table(runtime.store_for(layer, Layer.GOLD, name), TableId(layer, name))
        output = Table(runtime.store_for(domain.name, Layer.GOLD, product), domain.product_table(product))
        transform = domain.transforms.get(pspec.transform)
        columns = declared_sources(transform) if transform is not None else {}
        return AssetTables(inputs=inputs, outputs=[output], columns=columns)

    return plan


def maintenance_tables(domain: Domain) -> Plan:
    """A domain's maintenance reads nothing new and rewrites (compacts, expires) every table of the domain."""

    def plan(runtime: Runtime) -> AssetTables:
        outputs = [Table(runtime.store_for(domain.name, o.layer, o.product), o.table) for o in owned_tables(domain)]
        return AssetTables(inputs={}, outputs=outputs)

    return plan


def with_lineage(domain: Domain, layer: Layer, name: str, description: str, plan: Plan) -> Callable[[Body], Body]:
    """An asset body (context first, the `meshlake` resource as a keyword) that sends its run's OpenLineage
    events when OpenLineage is configured; sending never fails the run."""
    return _traced(_Job(domain, f"{layer}.{name}", description, layer, name), plan)


def with_maintenance_lineage(domain: Domain, description: str) -> Callable[[Body], Body]:
    """The domain's maintenance op body, sending OpenLineage events as `with_lineage` does for an asset."""
    return _traced(_Job(domain, "maintenance", description, job_type="TASK"), maintenance_tables(domain))


@dataclass(frozen=True)
class _Job:
    """What a traced body is: the job `<domain>.<name>`; `layer` and `name` of an asset (gold: its checks)."""

    domain: Domain
    job: str
    description: str
    layer: Layer | None = None
    name: str = ""
    job_type: str = "ASSET"


def _traced(job: _Job, plan: Plan) -> Callable[[Body], Body]:
    def decorate(body: Body) -> Body:
        @functools.wraps(body)
        def traced(context: dg.OpExecutionContext, *args: Any, **kwargs: Any) -> Any:
            run = _lineage_run(context, kwargs["meshlake"].runtime(), job, plan)
            if run is None:
                return body(context, *args, **kwargs)
            run.send("START")
            try:
                result = body(context, *args, **kwargs)
            except BaseException as exc:
                run.send("FAIL", error=exc)
                raise
            run.send("COMPLETE", result=result)
            return result

        return traced  # type: ignore[return-value]

    return decorate


def _lineage_run(context: dg.OpExecutionContext, runtime: Runtime, job: _Job, plan: Plan) -> "_AssetRun | None":
    """The asset run's OpenLineage run, or None when OpenLineage is not configured (or cannot be used)."""
    if not runtime.settings.openlineage:  # openlineage-python is not even imported (over half a second)
        return None
    try:
        emitter = LineageEmitter.configured()
        return _AssetRun(emitter, job, context, runtime, plan) if emitter else None
    except Exception as exc:
        _log.warning("OpenLineage events of %s.%s not sent: %s", job.domain.name, job.job, exc)
        return None


class _AssetRun:
    """One asset (or op) run's OpenLineage run: its id, job, and the datasets as they are at each event."""

    def __init__(
        self, emitter: LineageEmitter, job: _Job, context: dg.OpExecutionContext, runtime: Runtime, plan: Plan
    ) -> None:
        self.emitter, self.domain, self.layer, self.name = emitter, job.domain, job.layer, job.name
        self.run_id = str(uuid.uuid4())
        self.job = JobRef(
            namespace=f"meshlake.{runtime.settings.project_dir.name}",
            name=f"{job.domain.name}.{job.job}",
            description=job.description,
            owner=job.domain.spec.owner,
            parent_run_id=context.run.run_id,
            parent_job=context.run.job_name,
            job_type=job.job_type,
        )
        self.runtime, self.plan = runtime, plan

    def send(self, state: str, result: Any = None, error: BaseException | None = None) -> None:
        """Send the event; what cannot be described (a table not there yet) is left out, never raised."""
        try:
            tables = self.plan(self.runtime)
            inputs = [d for t in tables.inputs.values() if (d := _dataset(t))] + [
                DatasetRef(location) for location in tables.extra_inputs
            ]
            outputs = [d for t in tables.outputs if (d := _dataset(t))]
            if state == "COMPLETE" and outputs:
                outputs[0] = self._completed(outputs[0], tables, result)
            elif isinstance(error, RefusedBuild) and outputs:  # the candidate the run wrote, and why it was refused
                assertions = self._assertions(error.check_results)
                outputs[0] = replace(outputs[0], version=str(error.candidate), assertions=assertions)
        except Exception as exc:
            _log.warning("OpenLineage %s event of %s not sent: %s", state, self.job.name, exc)
            return
        self.emitter.emit(state, self.run_id, self.job, inputs, outputs, error)

    def _completed(self, output: DatasetRef, tables: AssetTables, result: Any) -> DatasetRef:
        """The asset's table after the run: rows, column lineage, the run's check results."""
        metadata = getattr(result, "metadata", None) or {}
        rows = metadata.get("dagster/row_count")
        locations = {n: loc for n, t in tables.inputs.items() if (loc := _location(t))}
        columns = {
            column: [(locations[n], c) for n, c in sources if n in locations]
            for column, sources in tables.columns.items()
        }
        return DatasetRef(
            output.location,
            output.schema,
            output.version,
            rows if isinstance(rows, int) else None,
            {column: sources for column, sources in columns.items() if sources},
            self._assertions(getattr(result, "check_results", None) or []),
        )

    def _assertions(self, checks: list[dg.AssetCheckResult]) -> list[Assertion]:
        columns: dict[str, str | None] = {}
        if self.layer == Layer.GOLD:
            for e in product_expectations(self.domain.spec.products[self.name]):
                named = [getattr(e, "column", None)] if getattr(e, "column", None) else getattr(e, "columns", [])
                columns[e.check_name()] = named[0] if len(named) == 1 else None
        return [
            Assertion(
                name=str(c.check_name),
                passed=c.passed,
                severity=c.severity.value.lower(),
                column=columns.get(str(c.check_name)),
                description=_text(c.metadata.get("expectation")),
            )
            for c in checks
        ]


def _text(value: Any) -> str | None:
    value = getattr(value, "value", value)
    return str(value) if value else None


def _location(table: Table) -> str | None:
    return table.store.location(table.table) if table.store.exists(table.table) else None


def _dataset(table: Table) -> DatasetRef | None:
    """The table as a dataset: its location, schema and version (None while it does not exist, or cannot be read:
    a table whose metadata is lost is left out of the event, which still tells of the run)."""
    try:
        if not table.store.exists(table.table):
            return None
        history = table.store.history(table.table)
    except Exception as exc:
        _log.warning("OpenLineage: %s left out of the event: %s", table.table, exc)
        return None
    return DatasetRef(
        table.store.location(table.table),
        table.store.schema(table.table),
        str(history[-1].version) if history else None,
    )
