"""`meshlake domain new|list|validate`: add a working domain, list the project's domains, check them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pipelines.core.spec import DomainSpec

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("new")
def new(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The domain's name: a lower-case identifier, e.g. inventory.")
    ],
) -> None:
    """Add a working domain to the project: spec, .proto, transforms, entity, product, generator, tests."""
    from rich.console import Console

    from pipelines.cli import context
    from pipelines.cli.errors import CommandError
    from pipelines.scaffold.new_domain import new_domain
    from pipelines.scaffold.new_project import ScaffoldError

    settings = context.settings()
    try:
        written = new_domain(name, settings.domains_dir, settings.schemas[0])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="NAME") from None
    except ScaffoldError as exc:
        raise CommandError(str(exc)) from exc
    console = Console(highlight=False, soft_wrap=True)
    for path in written:
        console.print(f"  {path}")
    console.print(
        f"Added the domain {name}. Try: meshlake domain validate {name} && meshlake generate --domain {name} "
        f"&& meshlake materialize --select 'group:{name}'"
    )


def _formats(spec: DomainSpec) -> str:
    """`iceberg` when every layer has one format, else a line per layer (`bronze iceberg`, `silver delta`, ...)."""
    formats = {layer: str(fmt) for layer, fmt in spec.formats.model_dump(mode="json").items()}
    if len(set(formats.values())) == 1:
        return formats["bronze"]
    return "\n".join(f"{layer} {fmt}" for layer, fmt in formats.items())


@app.command("list")
def list_domains(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the project's domains: owner, table formats, events and products (and those that do not load)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from pipelines.cli import context
    from pipelines.project import Project

    project = Project.load(context.settings())
    specs = [d.spec for d in project.domains.values()]
    if as_json:
        shown = [
            {
                "domain": spec.name,
                "owner": spec.owner,
                "formats": spec.formats.model_dump(mode="json"),
                "events": sorted(spec.events),
                "products": sorted(spec.products),
            }
            for spec in specs
        ]
        problems = [{"domain": p.domain, "problem": str(p)} for p in project.problems]
        typer.echo(json.dumps({"domains": shown, "problems": problems}, indent=1))
        return
    console = Console(highlight=False, soft_wrap=True)
    if not specs and not project.problems:
        console.print(f"no domain in {project.settings.domains_dir}: add one with meshlake domain new NAME")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("domain", "owner", "formats", "events", "products"):
        table.add_column(column, no_wrap=column != "owner", overflow="fold")
    for spec in specs:
        table.add_row(
            spec.name, spec.owner, _formats(spec), "\n".join(sorted(spec.events)), "\n".join(sorted(spec.products))
        )
    for problem in project.problems:
        table.add_row(problem.domain, "[red]does not load[/]", "", "", "")
    console.print(table)
    for problem in project.problems:
        console.print(str(problem), style="red", markup=False)


@app.command("validate")
def validate(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="Check only this domain; default: every domain.")
    ] = None,
) -> None:
    """Check domain specs, .proto contracts and options, grants, products, expectations and transforms.

    Prints each problem as `file:line: message` and exits 1, or prints OK.
    """
    from pipelines.cli import context
    from pipelines.validation import project_problems

    checked, problems = project_problems(context.settings(), name)
    if name is not None and name not in checked:
        known = ", ".join(sorted(checked)) or "none"
        raise typer.BadParameter(f"no domain {name!r} in this project (known: {known})", param_hint="NAME")
    for problem in problems:
        typer.echo(problem)
    if problems:
        raise typer.Exit(1)
    typer.echo("OK")
