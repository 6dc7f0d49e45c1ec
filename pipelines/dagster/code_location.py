"""The Dagster code location of a project: every domain's definitions merged, the automation sensor, the resource.

Domains that fail to load (spec, transforms, .proto) are left out; each shows in the Dagster UI as an
asset `<domain>/load_error` that cannot be materialised, whose description is the problem, and in
the code location's metadata; the other domains load and run.
"""

from __future__ import annotations

import logging
from typing import Any

import dagster as dg

from pipelines.bootstrap import Runtime
from pipelines.dagster.factory import domain_definitions
from pipelines.dagster.resources import MeshlakeResource
from pipelines.dagster.sensors import automation_sensor
from pipelines.project import SPEC_FILE, DomainProblem
from pipelines.settings import Settings

CODE_MODULE = "meshlake.definitions"
"""The module Dagster loads a project from (`[tool.dagster] module_name`); the fork server preloads it."""

_log = logging.getLogger("meshlake")


def _executor_config(config: dict[str, Any]) -> dict[str, Any]:
    if config["in_process"]:
        return {"in_process": {}}
    return {"multiprocess": {"start_method": {"forkserver": {"preload_modules": [CODE_MODULE]}}}}


STEP_EXECUTOR = dg.multi_or_in_process_executor.configured(
    _executor_config,
    name="meshlake_executor",
    config_schema={"in_process": dg.Field(bool, default_value=False)},
)
"""One process per step, forked from a server that imported the code location once (a step starts in
milliseconds instead of paying Python, Dagster, the project's domains and compiled schemas again); a run
of one step (the sensors' bronze runs) asks for `in_process` and spares the fork server too."""


def problem_assets(problems: list[DomainProblem]) -> list[dg.AssetSpec]:
    """One asset per domain left out, `<domain>/load_error`, saying why; it cannot be materialised."""
    by_domain: dict[str, list[str]] = {}
    for problem in problems:
        by_domain.setdefault(problem.domain, []).append(str(problem))
    return [
        dg.AssetSpec(
            key=[domain, "load_error"],
            group_name=domain,
            description=f"The domain {domain} did not load: " + "; ".join(lines),
            metadata={"error": dg.MetadataValue.md("\n".join(f"- `{line}`" for line in lines))},
            tags={"meshlake/load_error": "true"},
        )
        for domain, lines in sorted(by_domain.items())
    ]


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """Load the project's domains, compile their schemas and build the merged definitions.

    Args:
        settings: the settings (default: `Settings.load()`, the project found from the working directory
            or `MESHLAKE_PROJECT`).

    Raises:
        SettingsError: there is no project, or a setting is invalid.
    """
    settings = settings or Settings.load()
    runtime = Runtime(settings)
    runtime.drop_unusable()
    per_domain = []
    for domain in list(runtime.domains.values()):
        try:
            per_domain.append(domain_definitions(domain, runtime.contract))
        except dg.DagsterInvalidDefinitionError as exc:  # a spec Dagster refuses: that domain's problem only
            spec = settings.domains_dir / domain.name / SPEC_FILE
            runtime.problems.append(DomainProblem(domain.name, spec, str(exc).splitlines()[0]))
            del runtime.domains[domain.name]
    for problem in runtime.problems:
        _log.warning("meshlake: domain %s left out: %s", problem.domain, problem)
    metadata: dict[str, dg.MetadataValue] = {"meshlake/project": dg.MetadataValue.path(str(settings.project_dir))}
    if runtime.problems:
        metadata["meshlake/problems"] = dg.MetadataValue.text("\n".join(str(p) for p in runtime.problems))
    return dg.Definitions.merge(
        *per_domain,
        dg.Definitions(
            assets=problem_assets(runtime.problems),
            sensors=[automation_sensor()],
            resources={"meshlake": MeshlakeResource.from_settings(settings)},
            executor=STEP_EXECUTOR,
            metadata=metadata,
        ),
    )
