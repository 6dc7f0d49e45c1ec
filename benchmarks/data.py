"""The benchmark's input: N generated OrderPlaced events as length-delimited landing files, made once per run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.adapters.landing import write_landing_file
from pipelines.bootstrap import Runtime
from pipelines.core.framing import unframe
from pipelines.settings import Settings

DOMAIN, EVENT, MESSAGE = "orders", "order_placed", "meshlake.orders.v1.OrderPlaced"
FILES = 4


@dataclass(frozen=True)
class Dataset:
    """Landing files holding `events` OrderPlaced payloads, and what making them cost."""

    landing: Path
    files: list[Path]
    events: int
    generate_seconds: float

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)

    def payloads(self) -> list[list[bytes]]:
        """The payloads of each file, as the landing source frames them."""
        return [unframe(f.read_bytes()).payloads for f in self.files]


def runtime(home: Path, fmt: str | None = None) -> Runtime:
    from pipelines.core.commits import TableFormat

    return Runtime(Settings(home=home, format_override=TableFormat(fmt) if fmt else None))


def generate(workdir: Path, events: int, seed: int = 7) -> Dataset:
    """Serialize the first `events` OrderPlaced events of the orders generator into `FILES` landing files."""
    started = time.perf_counter()
    rt = runtime(workdir / "generate")
    domain = rt.domain(DOMAIN)
    assert domain.generator is not None, "the orders domain has no generator"
    classes = {e.message: rt.schemas.message_class(e.message) for e in domain.spec.events.values()}
    payloads: list[bytes] = []
    budget = int(events * 1.25) + 100  # the generator also yields cancellations and returns
    while len(payloads) < events:
        payloads.clear()
        for name, message in domain.generator(classes, budget, seed):
            if name == EVENT:
                payloads.append(message.SerializeToString())
                if len(payloads) == events:
                    break
        budget *= 2
    landing = workdir / "data" / "landing"
    per_file = -(-events // FILES)
    files = [
        write_landing_file(landing, DOMAIN, EVENT, f"bench-{part:04d}", payloads[start : start + per_file])
        for part, start in enumerate(range(0, events, per_file))
    ]
    return Dataset(landing, files, events, time.perf_counter() - started)
