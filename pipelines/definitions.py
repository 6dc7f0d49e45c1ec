"""The Dagster code location: every domain's definitions merged, the automation sensor, the meshlake resource."""

from __future__ import annotations

from typing import Any

import dagster as dg

from pipelines.adapters.protobuf.compiler import compile_schemas
from pipelines.bootstrap import contract_from_schemas
from pipelines.core.event_contract import EventContract
from pipelines.dagster.factory import domain_definitions
from pipelines.dagster.resources import meshlake_resource_from_env
from pipelines.dagster.sensors import automation_sensor
from pipelines.project import load_domains
from pipelines.settings import schemas_dir_from_env


def _executor_config(config: dict[str, Any]) -> dict[str, Any]:
    if config["in_process"]:
        return {"in_process": {}}
    return {"multiprocess": {"start_method": {"forkserver": {"preload_modules": [__name__]}}}}


STEP_EXECUTOR = dg.multi_or_in_process_executor.configured(
    _executor_config,
    name="meshlake_executor",
    config_schema={"in_process": dg.Field(bool, default_value=False)},
)
"""One process per step, forked from a server that imported this module once (a step starts in
milliseconds instead of paying Python, Dagster and the compiled schemas again); a run of one step
(the sensors' bronze runs) asks for `in_process` and spares the fork server too."""


def build_definitions() -> dg.Definitions:
    """Load every domain spec, compile the schemas and build the merged definitions."""
    domains = load_domains()
    schemas = compile_schemas(schemas_dir_from_env())
    by_name = {d.name: d for d in domains}

    def contract_of(domain: str, event: str) -> EventContract:
        return contract_from_schemas(schemas, by_name[domain].spec.events[event].message)

    return dg.Definitions.merge(
        *(domain_definitions(d, contract_of) for d in domains),
        dg.Definitions(
            sensors=[automation_sensor()],
            resources={"meshlake": meshlake_resource_from_env()},
            executor=STEP_EXECUTOR,
        ),
    )


defs = build_definitions()
