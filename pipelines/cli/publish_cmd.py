"""`meshlake publish`: send generated events to NATS JetStream, as a producer would."""

from __future__ import annotations

import os
from functools import partial

import typer

from pipelines.cli.run_cmds import console, generator_domains, progress_bar


def publish(
    domain: list[str] = typer.Option([], "--domain", "-d", help="Domain(s); default: every domain with a generator."),
    count: int = typer.Option(10_000, "--count", "-n", min=1, help="Events per domain."),
    seed: int = typer.Option(7, help="Random seed; the same seed generates the same events."),
    url: str = typer.Option("", help="NATS server URL; default $MESHLAKE_NATS_URL."),
) -> None:
    """Publish generated events to NATS JetStream subjects events.<domain>.<event>."""
    from pipelines.bootstrap import Runtime
    from pipelines.generation import publish_generated

    server = url or os.environ.get("MESHLAKE_NATS_URL", "")
    if not server:
        raise typer.BadParameter("give --url or set MESHLAKE_NATS_URL", param_hint="--url")
    runtime = Runtime.from_env()
    names = generator_domains(runtime, domain)
    with progress_bar() as bar:
        for name in names:
            task = bar.add_task(f"publish {name}", total=count)
            stored = publish_generated(runtime, server, name, count, seed, partial(bar.advance, task))
            console.print(f"{name}: " + ", ".join(f"{event} {n} stored" for event, n in stored.items()))
