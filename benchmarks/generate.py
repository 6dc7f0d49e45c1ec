"""The benchmark input: N generated OrderPlaced events as landing files (`python -m benchmarks.generate`).

The orders domain's own generator makes the events. It is the slowest part of a run, so two
processes generate half each (seeds 7 and 8), and the files are kept in a cache keyed by the
event count and a hash of the generator and schema sources: a second run with the same code
reuses them. Prints one JSON object: where the files are and what making them cost.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

DOMAIN, EVENT = "orders", "order_placed"
FILES_PER_PROCESS = 2
SEEDS = (7, 8)
ROOT = Path(__file__).parents[1]
"""The repository, also the sample project whose orders domain the benchmarks run."""
SOURCES = ("domains/orders", "domains/world.py", "schemas/orders")


def fingerprint(events: int) -> str:
    """Changes when the events would: their count, the seeds, or any generator or schema source."""
    digest = hashlib.sha256(f"{events}:{SEEDS}:{FILES_PER_PROCESS}".encode())
    for name in SOURCES:
        path = ROOT / name
        for file in sorted(path.rglob("*") if path.is_dir() else [path]):
            if file.is_file() and file.suffix in {".py", ".proto", ".yaml"}:
                digest.update(file.relative_to(ROOT).as_posix().encode() + file.read_bytes())
    return digest.hexdigest()[:16]


def _part(landing: str, events: int, seed: int, first_file: int) -> int:
    """Generate `events` OrderPlaced payloads with `seed` and write them as `FILES_PER_PROCESS` files."""
    from pipelines.adapters.landing import write_landing_file
    from pipelines.bootstrap import Runtime
    from pipelines.settings import Settings

    rt = Runtime(Settings.load(project=ROOT, home=Path(landing).parent))
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
    per_file = -(-events // FILES_PER_PROCESS)
    for part, start in enumerate(range(0, events, per_file)):
        chunk = payloads[start : start + per_file]
        write_landing_file(Path(landing), DOMAIN, EVENT, f"bench-{first_file + part:04d}", chunk)
    return events


def generate(events: int, cache: Path) -> dict[str, Any]:
    """Landing files with `events` OrderPlaced events under `cache/<fingerprint>/landing` (made if missing)."""
    folder = cache / fingerprint(events)
    meta = folder / "meta.json"
    if meta.exists():
        return {**json.loads(meta.read_text()), "cached": True}
    shutil.rmtree(folder, ignore_errors=True)
    landing = folder / "landing"
    started = time.perf_counter()
    halves = [events // len(SEEDS) + (1 if i < events % len(SEEDS) else 0) for i in range(len(SEEDS))]
    with ProcessPoolExecutor(len(SEEDS), mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(_part, str(landing), n, seed, i * FILES_PER_PROCESS)
            for i, (n, seed) in enumerate(zip(halves, SEEDS, strict=True))
            if n
        ]
        made = sum(f.result() for f in futures)
    files = sorted((landing / DOMAIN / EVENT).glob("*.pb"))
    result = {
        "landing": str(landing),
        "events": made,
        "seconds": time.perf_counter() - started,
        "bytes": sum(f.stat().st_size for f in files),
        "files": len(files),
        "seeds": list(SEEDS),
    }
    meta.write_text(json.dumps(result))
    return {**result, "cached": False}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args(argv)
    json.dump(generate(args.events, args.cache), sys.stdout)


if __name__ == "__main__":
    main()
