"""Generated events of a domain, written into the landing area or published to NATS JetStream."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from pipelines.adapters.landing import LandingFile, write_landing_file
from pipelines.adapters.storage import Location
from pipelines.bootstrap import Runtime

Progress = Callable[[int], None]


def _ignore(n: int) -> None:
    """The default progress callback: report nothing."""


def generate_events(
    runtime: Runtime, domain: str, count: int, seed: int = 7, progress: Progress = _ignore
) -> dict[str, list[tuple[str, bytes]]]:
    """Run the domain's generator: `(event id, serialized message)` per event type, in order.

    Raises:
        ValueError: the domain has no generator.
    """
    spec_domain = runtime.domain(domain)
    if spec_domain.generator is None:
        raise ValueError(f"domain {domain!r} has no generator in its domain.yaml")
    events = spec_domain.spec.events
    schemas = runtime.domain_schemas(domain)
    classes = {e.message: schemas.message_class(e.message) for e in events.values()}
    id_field = {name: runtime.contract(domain, name).event_id for name in events}
    by_event: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for n, (event, message) in enumerate(spec_domain.generator(classes, count, seed), start=1):
        field = id_field[event]
        by_event[event].append((str(getattr(message, field)) if field else "", message.SerializeToString()))
        if n % 5_000 == 0:
            progress(5_000)
    progress(count % 5_000)
    return dict(by_event)


def generate_landing(
    runtime: Runtime,
    domain: str,
    count: int,
    seed: int = 7,
    files: int = 4,
    suffix: str = ".pb",
    progress: Progress = _ignore,
    landing: Location | None = None,
) -> list[LandingFile]:
    """Generate `count` events of `domain` and write them as `files` landing files per event type.

    Returns the written files, under `landing` (default: the runtime's landing zone). File names carry
    the UTC time and the seed, so a second run adds files instead of replacing ones that may already be
    ingested.
    """
    root = landing if landing is not None else runtime.landing.location
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    written = []
    for event, items in sorted(generate_events(runtime, domain, count, seed, progress).items()):
        payloads = [payload for _, payload in items]
        per_file = max(1, -(-len(payloads) // files))
        for part, start in enumerate(range(0, len(payloads), per_file)):
            name = f"{stamp}-s{seed}-{part:04d}"
            chunk = payloads[start : start + per_file]
            written.append(write_landing_file(root, domain, event, name, chunk, suffix))
    return written


def publish_generated(
    runtime: Runtime, url: str, domain: str, count: int, seed: int = 7, progress: Progress = _ignore
) -> dict[str, int]:
    """Generate `count` events of `domain` and publish them to `events.<domain>.<event>`.

    Returns how many each event type stored (producer retries with the same id are dropped by
    JetStream's duplicate window).
    """
    from pipelines.adapters.nats import publish_events

    return {
        event: publish_events(url, domain, event, items)
        for event, items in sorted(generate_events(runtime, domain, count, seed, progress).items())
    }
