"""The parent side of the kill -9 tests: a preloaded forkserver, bronze commits counted on disk, timed kills."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

from pipelines.adapters.landing import write_landing_file
from pipelines.adapters.protobuf.compiler import compile_schemas
from pipelines.core.framing import encode_varint
from pipelines.core.names import Layer
from tests.integration.crash_worker import BRONZE
from tests.integration.ingest_helpers import ORDER_PLACED, orders_runtime
from tests.paths import MESH as PROJECT_DIR
from tests.processes import joined

FILES, EVENTS_PER_FILE, GARBAGE_AT = 30, 20, 7
Key = tuple[str, str, int]

WORKERS = ["tests.integration.crash_worker", "tests.integration.test_crash_exactly_once_nats"]
"""The modules whose functions the crash tests run in killed processes (landing files, NATS)."""


def forkserver() -> ForkServerContext:
    """Processes forked from a server that imported every crash worker (libraries, compiled schemas) once.

    A pytest process has one forkserver, and it keeps the preload it was started with, so it loads the
    workers of all crash tests, whichever test starts it.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKERS)
    return context


def bronze_commits_on_disk(home: Path, fmt: str) -> int:
    """Delta log entries or Iceberg metadata files of the bronze table: grows with every commit."""
    table_dir = home / fmt / "orders" / BRONZE
    pattern = "_delta_log/*.json" if fmt == "delta" else "metadata/*.metadata.json"
    return len(list(table_dir.glob(pattern)))


def run(
    context: ForkServerContext,
    target: Callable[..., None],
    args: tuple[Any, ...],
    home: Path,
    fmt: str,
    rng: random.Random | None = None,
) -> int | None:
    """Run `target(*args)` in a process; with `rng`, SIGKILL it at a random moment after its first bronze commit.

    Returns:
        The process's exit code: `-SIGKILL` when killed (by the test or by its own stage hook).
    """
    before = bronze_commits_on_disk(home, fmt)
    process = context.Process(target=target, args=args)
    process.start()
    deadline = time.monotonic() + 60
    while rng is not None and process.is_alive() and time.monotonic() < deadline:
        if bronze_commits_on_disk(home, fmt) > before:
            time.sleep(rng.uniform(0, 0.08))
            os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
            break
        time.sleep(0.002)
    return joined([process], 120)[0]


def land(home: Path) -> tuple[Counter[Key], set[tuple[str, int]]]:
    """Write the landing files; return the (event id, source, offset) of every event and the garbage positions."""
    cls = compile_schemas(PROJECT_DIR / "schemas").message_class(ORDER_PLACED)
    events: Counter[Key] = Counter()
    garbage: set[tuple[str, int]] = set()
    for number in range(FILES):
        source = f"orders/order_placed/{number:03d}.pb"
        payloads, offset = [], 0
        for n in range(EVENTS_PER_FILE):
            if n == GARBAGE_AT:
                garbage.add((source, offset))
                payload = b"\xff\xff\xff\xff"
            else:
                msg = cls(event_id=f"E{number}-{n}", order_id=f"O{number}-{n}", customer_id="C1", total_cents=n)
                msg.placed_at.FromSeconds(1_780_000_000 + number * 86_400 + n)  # before crash_worker.NOW
                payload = msg.SerializeToString()
                events[(f"E{number}-{n}", source, offset)] += 1
            payloads.append(payload)
            offset += len(encode_varint(len(payload))) + len(payload)
        write_landing_file(home / "landing", "orders", "order_placed", f"{number:03d}", payloads)
    return events, garbage


def landed(home: Path, fmt: str) -> tuple[Counter[Key], Counter[tuple[str, int]]]:
    """The (event id, source, offset) of every bronze row and the (source, offset) of every quarantine row."""
    runtime = orders_runtime(home, fmt)
    domain = runtime.domain("orders")
    bronze = runtime.store_for("orders", Layer.BRONZE).read(domain.bronze_table("order_placed"))
    ingest = bronze.column("_ingest").combine_chunks()
    rows = zip(
        bronze.column("event_id").to_pylist(),
        ingest.field("source").to_pylist(),
        ingest.field("offset").to_pylist(),
        strict=True,
    )
    quarantine = runtime.store_for("orders", Layer.QUARANTINE).read(domain.quarantine_table())
    rejects = zip(quarantine.column("source").to_pylist(), quarantine.column("offset").to_pylist(), strict=True)
    return Counter(rows), Counter(rejects)
