"""The parent side of the kill -9 tests: a preloaded forkserver, bronze commits counted on disk, timed kills."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

from tests.integration.crash_worker import BRONZE

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
    process.join(120)
    return process.exitcode
