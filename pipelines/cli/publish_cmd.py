"""`meshlake publish`: send generated events to NATS JetStream, as a producer would."""

from __future__ import annotations

from functools import partial

import typer

from pipelines.cli.run_cmds import console, fresh_seed, generator_domains, progress_bar


def publish(
    domain: list[str] = typer.Option([], "--domain", "-d", help="Domain(s); default: every domain with a generator."),
    count: int = typer.Option(10_000, "--count", "-n", min=1, help="Events per domain."),
    seed: int | None = typer.Option(
        None, min=0, help="Random seed; the same seed generates the same events (default: a fresh one, printed)."
    ),
    url: str = typer.Option("", help="NATS server URL; default $MESHLAKE_NATS_URL."),
) -> None:
    """Publish generated events to NATS JetStream subjects events.<domain>.<event>."""
    from pipelines.cli import context
    from pipelines.generation import publish_generated

    runtime = context.runtime(contracts=True, needed=domain)
    server = url or runtime.settings.nats_url
    if not server:
        raise typer.BadParameter("give --url or set MESHLAKE_NATS_URL", param_hint=["--url"])
    names = generator_domains(runtime, domain)
    seed = fresh_seed() if seed is None else seed
    with progress_bar() as bar:
        for name in names:
            task = bar.add_task(f"publish {name}", total=count)
            stored = publish_generated(runtime, server, name, count, seed, partial(bar.advance, task))
            console.print(f"{name}: " + ", ".join(f"{event} {n} stored" for event, n in stored.items()))
    console.print(f"seed {seed}: the same events again with --seed {seed}")
