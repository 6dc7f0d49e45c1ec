"""`meshlake init DIR`: scaffold a project (project file, domains/, schemas/, dagster.yaml, pyproject, README)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def init(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="The project folder; created when missing.")],
    sample: Annotated[
        bool, typer.Option("--sample", help="Add the sample domains (orders, payments, shipping) and their schemas.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Add the project to a folder that is not empty; its files are kept.")
    ] = False,
) -> None:
    """Create a meshlake project: meshlake.yaml, domains/, schemas/, dagster.yaml, pyproject.toml, README."""
    from rich.console import Console

    from pipelines.cli.errors import CommandError
    from pipelines.scaffold.new_project import ScaffoldError, init_project

    try:
        written = init_project(folder, sample=sample, force=force)
    except ScaffoldError as exc:
        raise CommandError(str(exc)) from exc
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"Created the meshlake project {folder} ({len(written)} files).")
    first = "meshlake generate -n 10000" if sample else "meshlake domain new <name>"
    console.print(f"Next: cd {folder} && {first} && meshlake materialize   (see README.md)")
