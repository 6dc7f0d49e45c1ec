"""Writes a domain's generated events into the landing area as length-delimited files."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pipelines.adapters.landing import write_landing_file
from pipelines.bootstrap import Runtime


def generate_landing(
    runtime: Runtime,
    domain: str,
    count: int,
    seed: int = 7,
    files: int = 4,
    suffix: str = ".pb",
    progress: Callable[[int], None] = lambda n: None,
) -> list[Path]:
    """Generate `count` events of `domain` and write them as `files` landing files per event type.

    Returns the written paths. File names carry the UTC time and the seed, so a second run adds
    files instead of replacing ones that may already be ingested.
    """
    spec_domain = runtime.domain(domain)
    if spec_domain.generator is None:
        raise ValueError(f"domain {domain!r} has no generator in its domain.yaml")
    classes = {e.message: runtime.schemas.message_class(e.message) for e in spec_domain.spec.events.values()}
    by_event: dict[str, list[bytes]] = defaultdict(list)
    for n, (event, message) in enumerate(spec_domain.generator(classes, count, seed), start=1):
        by_event[event].append(message.SerializeToString())
        if n % 5_000 == 0:
            progress(5_000)
    progress(count % 5_000)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    written = []
    for event, payloads in sorted(by_event.items()):
        per_file = max(1, -(-len(payloads) // files))
        for part, start in enumerate(range(0, len(payloads), per_file)):
            name = f"{stamp}-s{seed}-{part:04d}"
            chunk = payloads[start : start + per_file]
            written.append(write_landing_file(runtime.settings.landing_dir, domain, event, name, chunk, suffix))
    return written
