"""`meshlake publish`: send generated events as a producer would, to NATS JetStream or into a landing zone."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import typer

from pipelines.cli.run_cmds import console, fresh_seed, generator_domains, progress_bar

if TYPE_CHECKING:
    from pipelines.adapters.storage import Location, StorageOptions

NATS_SCHEMES = ("nats", "tls", "ws", "wss")
"""URL schemes of a NATS server (nats-py's); any other `--url` is a landing zone (`s3://bucket/prefix`, a folder)."""


def publish(
    domain: list[str] = typer.Option([], "--domain", "-d", help="Domain(s); default: every domain with a generator."),
    count: int = typer.Option(10_000, "--count", "-n", min=1, help="Events per domain."),
    seed: int | None = typer.Option(
        None, min=0, help="Random seed; the same seed generates the same events (default: a fresh one, printed)."
    ),
    url: str = typer.Option(
        "",
        help="A NATS server (nats://host:port), or a landing zone (s3://bucket/prefix or a folder) to put one "
        "object per event type into; default $MESHLAKE_NATS_URL.",
    ),
) -> None:
    """Publish generated events to NATS JetStream subjects events.<domain>.<event>, or into a landing zone."""
    from pipelines.cli import context

    runtime = context.runtime(contracts=True, needed=domain)
    target = url or runtime.settings.nats_url
    if not target:
        raise typer.BadParameter("give --url or set MESHLAKE_NATS_URL", param_hint=["--url"])
    names = generator_domains(runtime, domain)
    seed = fresh_seed() if seed is None else seed
    to_nats = urlparse(target).scheme in NATS_SCHEMES
    landing = None if to_nats else _landing(target, runtime.storage_options)
    with progress_bar() as bar:
        for name in names:
            task = bar.add_task(f"publish {name}", total=count)
            advance = partial(bar.advance, task)
            if landing is None:
                from pipelines.generation import publish_generated

                stored = publish_generated(runtime, target, name, count, seed, advance)
                console.print(f"{name}: " + ", ".join(f"{event} {n} stored" for event, n in stored.items()))
            else:
                from pipelines.generation import generate_landing

                written = generate_landing(runtime, name, count, seed, files=1, progress=advance, landing=landing)
                console.print(f"{name}: {len(written)} objects under {landing.child_uri(name)}")
    console.print(f"seed {seed}: the same events again with --seed {seed}")


def _landing(uri: str, options: StorageOptions) -> Location:
    """The landing zone `uri` names, reached once (a missing bucket or refused key says so before any event).

    Raises:
        typer.BadParameter: no storage for the URI's scheme.
        StorageError: the store cannot be reached.
    """
    from pipelines.adapters.storage import open_location

    try:
        location = open_location(uri, options)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}; a NATS server is nats://host:port", param_hint=["--url"]) from None
    location.check()
    return location
