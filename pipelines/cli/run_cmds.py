"""CLI commands that run pipelines: generate landing files, materialise assets, start `dagster dev`."""

from __future__ import annotations

import os
import sys
from functools import partial

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def generate(
    domain: list[str] = typer.Option(
        [], "--domain", "-d", help="Domain(s) to generate; default: every domain with a generator."
    ),
    count: int = typer.Option(100_000, "--count", "-n", min=1, help="Events per domain."),
    seed: int = typer.Option(7, help="Random seed; the same seed generates the same events."),
    files: int = typer.Option(4, min=1, help="Landing files per event type."),
    compression: str = typer.Option("none", help="none, gz or zst."),
) -> None:
    """Generate realistic events into the landing area ($MESHLAKE_HOME/landing)."""
    from pipelines.bootstrap import Runtime
    from pipelines.generation import generate_landing

    suffix = {"none": ".pb", "gz": ".pb.gz", "zst": ".pb.zst"}.get(compression)
    if suffix is None:
        raise typer.BadParameter("must be none, gz or zst", param_hint="--compression")
    runtime = Runtime.from_env()
    names = domain or [d.name for d in runtime.domains.values() if d.generator]
    with progress_bar() as bar:
        for name in names:
            task = bar.add_task(f"generate {name}", total=count)
            paths = generate_landing(runtime, name, count, seed, files, suffix, partial(bar.advance, task))
            console.print(f"{name}: {len(paths)} files under {runtime.settings.landing_dir / name}")


def materialize(
    select: str = typer.Option("*", help="Dagster asset selection, e.g. 'group:orders', 'key:orders/bronze/*' or '*'."),
) -> None:
    """Materialise assets in-process with Dagster (the same as `dagster asset materialize`)."""
    from pipelines.cli.materialize import materialize_all

    materialize_all(select, console)


def dev(
    port: int = typer.Option(3000, help="Port of the Dagster UI (127.0.0.1)."),
    catalog_port: int = typer.Option(8765, help="Port of the catalog service (127.0.0.1)."),
) -> None:
    """Start `dagster dev` (UI, schedules, sensors, automation) and the catalog service; Ctrl-C stops both."""
    from pipelines.settings import Settings

    home = Settings.from_env().home
    # Become the lean supervisor (same process: signals and process groups are unchanged).
    args = ["--home", str(home), "--port", str(port), "--catalog-port", str(catalog_port)]
    os.execv(sys.executable, [sys.executable, "-m", "pipelines.cli.dev", *args])
