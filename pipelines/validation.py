"""Every problem of a project's domains as one `file:line: message` each: what `meshlake domain validate` prints.

It reuses what loading does (the project loader checks specs, grants, products, expectations and that
the transforms exist; the runtime compiles the .proto contracts and reads their options), then builds the
Dagster definitions, so that what would stop the code location is reported here as a line naming the
domain, not as a traceback of every domain's definitions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.bootstrap import Runtime
from pipelines.core.engine import EngineName
from pipelines.core.extras import MissingExtraError, require
from pipelines.project import SPEC_FILE, DomainProblem, spec_problem
from pipelines.settings import Settings

if TYPE_CHECKING:
    import dagster as dg


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _loads(definitions: list[dg.Definitions]) -> Exception | None:
    """Why Dagster would refuse these definitions as one code location, None when it would not."""
    import dagster as dg

    # the resource is left out: what matters is that the definitions are sound, not what they would run on
    resources = dg.Definitions(resources={"meshlake": dg.ResourceDefinition.none_resource()})
    try:
        dg.Definitions.merge(*definitions, resources).get_repository_def()
    except Exception as exc:
        return exc
    return None


def _definition_problems(runtime: Runtime) -> list[DomainProblem]:
    """The domains whose Dagster definitions cannot be built, or that stop the others' from loading."""
    from pipelines.dagster.factory import domain_definitions

    def problem(name: str, exc: Exception) -> DomainProblem:
        spec = runtime.settings.domains_dir / name / SPEC_FILE
        return DomainProblem(name, spec, f"Dagster definitions: {_first_line(exc)}")

    built: dict[str, dg.Definitions] = {}
    problems = []
    for name, domain in sorted(runtime.domains.items()):
        try:
            built[name] = domain_definitions(domain, runtime.contract)
        except Exception as exc:
            problems.append(problem(name, exc))
    error = _loads(list(built.values()))
    if error is None:
        return problems
    # the culprits: the domains without which the others load
    culprits = [n for n in built if _loads([d for other, d in built.items() if other != n]) is None]
    return problems + [problem(name, error) for name in culprits or sorted(built)]


def _engine_problems(runtime: Runtime) -> list[DomainProblem]:
    """The products and entities whose own `engine: spark` needs libraries that are not installed (the `sail`
    extra: pyspark-client, and pysail when meshlake starts the server), found here rather than at their first build."""
    modules = ("pyspark",) if runtime.settings.spark_url else ("pyspark", "pysail")
    problems = []
    for name, domain in sorted(runtime.domains.items()):
        own = [("products", p, s.engine) for p, s in domain.spec.products.items()]
        own += [("entities", e, s.engine) for e, s in domain.spec.entities.items()]
        for kind, item, engine in own:
            if engine is not EngineName.SPARK:
                continue
            try:
                for module in modules:
                    require(module)
            except MissingExtraError as exc:
                problems.append(spec_problem(runtime.settings.domains_dir / name, (kind, item, "engine"), str(exc)))
    return problems


def project_problems(settings: Settings, only: str | None = None) -> tuple[set[str], list[str]]:
    """Check the project's domains (or only `only`).

    Returns:
        The names of the domains found (loaded or not), and one line per problem of the checked ones.

    Raises:
        SettingsError: there is no project, or a setting is invalid.
    """
    runtime = Runtime(settings)
    runtime.drop_unusable()
    problems = list(runtime.problems)
    problems += _definition_problems(runtime) + _engine_problems(runtime)
    names = set(runtime.domains) | {p.domain for p in problems}
    return names, [str(p) for p in problems if only is None or p.domain == only]
