"""CLI commands that run pipelines: generate landing files, materialise assets, start `dagster dev`."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from pipelines.cli.local_storage import Storage

if TYPE_CHECKING:
    from rich.progress import Progress

    from pipelines.bootstrap import Runtime

console = Console()


class Compression(StrEnum):
    """How landing files are compressed."""

    NONE = "none"
    GZ = "gz"
    ZST = "zst"


SUFFIXES = {Compression.NONE: ".pb", Compression.GZ: ".pb.gz", Compression.ZST: ".pb.zst"}


def progress_bar() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def generator_domains(runtime: Runtime, names: Sequence[str]) -> list[str]:
    """The domains named by `--domain`, or every domain with a generator when none is named.

    Raises:
        typer.BadParameter: a name is not a domain with a generator (exit 2, listing those that are).
    """
    known = sorted(d.name for d in runtime.domains.values() if d.generator)
    for name in names:
        if name not in known:
            raise typer.BadParameter(
                f"no domain {name!r} with a generator (known: {', '.join(known)})", param_hint=["--domain"]
            )
    return list(names) or known


def fresh_seed() -> int:
    """A seed no earlier call is likely to have used, short enough to type again."""
    import secrets

    return secrets.randbelow(1_000_000)


def generate(
    domain: list[str] = typer.Option(
        [], "--domain", "-d", help="Domain(s) to generate; default: every domain with a generator."
    ),
    count: int = typer.Option(100_000, "--count", "-n", min=1, help="Events per domain."),
    seed: int | None = typer.Option(
        None, min=0, help="Random seed; the same seed generates the same events (default: a fresh one, printed)."
    ),
    files: int = typer.Option(4, min=1, help="Landing files per event type."),
    compression: Compression = typer.Option(Compression.NONE, help="Compression of the landing files."),
) -> None:
    """Generate realistic events into the landing area ($MESHLAKE_HOME/landing)."""
    from pipelines.cli import context
    from pipelines.generation import generate_landing

    runtime = context.runtime(contracts=True, needed=domain)
    names = generator_domains(runtime, domain)
    suffix = SUFFIXES[Compression(compression)]
    seed = fresh_seed() if seed is None else seed
    with progress_bar() as bar:
        for name in names:
            task = bar.add_task(f"generate {name}", total=count)
            paths = generate_landing(runtime, name, count, seed, files, suffix, partial(bar.advance, task))
            console.print(f"{name}: {len(paths)} files under {runtime.landing.location.child_uri(name)}")
    console.print(f"seed {seed}: the same events again with --seed {seed}")


def materialize(
    select: str = typer.Option("*", help="Dagster asset selection, e.g. 'group:orders', 'key:orders/bronze/*' or '*'."),
) -> None:
    """Materialise assets in-process with Dagster (the same as `dagster asset materialize`)."""
    from pipelines.cli.materialize import materialize_all

    materialize_all(select, console)


def dev(
    ctx: typer.Context,
    port: int = typer.Option(3000, help="Port of the Dagster UI (127.0.0.1)."),
    catalog_port: int = typer.Option(8765, help="Port of the catalog service (127.0.0.1)."),
    storage: Storage = typer.Option(
        Storage.LOCAL, help="Where tables and landing files live: the home folder, or s3:// on a SeaweedFS under it."
    ),
) -> None:
    """Start `dagster dev` (UI, schedules, sensors, automation) and the catalog service; Ctrl-C stops both."""
    from pipelines.cli import context

    settings = context.settings()
    args = ["--home", str(settings.home_dir), "--project", str(settings.project_dir)]
    args += ["--port", str(port), "--catalog-port", str(catalog_port), "--storage", Storage(storage).value]
    args += ["--log-format", settings.log_format]
    if storage is Storage.S3:
        from pipelines.project import domain_names

        args += [a for name in domain_names(settings.domains_dir) for a in ("--domain", name)]
        if settings.weed:
            args += ["--weed", settings.weed]
    if settings.dagster_postgres_url:
        args.append("--postgres")
    if ctx.find_root().params.get("verbose"):
        args.append("--verbose")
    # Become the lean supervisor (same process: signals and process groups are unchanged); the children see
    # every effective setting, the project file's and the flags' too, as MESHLAKE_* variables.
    os.execve(sys.executable, [sys.executable, "-m", "pipelines.cli.dev", *args], settings.child_environment())
