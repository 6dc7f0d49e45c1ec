"""Several processes ingest the same landing files into the same bronze table at once: every event lands once.

Two schedulers, or a scheduler and a manual run, outside one Dagster concurrency pool, each run
the ingestion of one event type over one home. Their commits race: the loser of a race must find
what the winner committed (the positions in the table's history) and commit only the rest. Each
writer is a separate process started at the same moment; in the `kill` variant one of them is
SIGKILLed at a random moment once bronze has a commit. A last run then finishes what a killed
writer left, and bronze must hold each event exactly once, quarantine each undecodable frame once.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from multiprocessing.context import ForkServerContext
from pathlib import Path

import pytest

from tests.integration import crash_harness, crash_worker
from tests.processes import joined


@pytest.fixture(scope="module")
def forkserver() -> ForkServerContext:
    return crash_harness.forkserver()


def race(
    context: ForkServerContext, home: Path, fmt: str, writers: int, kill: random.Random | None
) -> list[int | None]:
    """Start `writers` ingestions at once (one commit per landing file); with `kill`, SIGKILL one at a random moment."""
    processes = [context.Process(target=crash_worker.run, args=(str(home), fmt, "none", 1)) for _ in range(writers)]
    for process in processes:
        process.start()
    if kill is not None:
        victim = kill.choice(processes)
        deadline = time.monotonic() + 60
        while victim.is_alive() and time.monotonic() < deadline:
            if crash_harness.bronze_commits_on_disk(home, fmt) > 2:
                time.sleep(kill.uniform(0, 0.2))
                os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
                break
            time.sleep(0.002)
    return joined(processes, 120)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
@pytest.mark.parametrize(("writers", "killing"), [(2, False), (2, True), (4, True)])
def test_writers_racing_on_the_same_files_land_every_event_exactly_once(
    tmp_path: Path, fmt: str, writers: int, killing: bool, forkserver: ForkServerContext
) -> None:
    home = tmp_path / "home"
    events, garbage = crash_harness.land(home)
    codes = race(forkserver, home, fmt, writers, random.Random(f"race-{fmt}-{writers}") if killing else None)

    assert all(code == 0 for code in codes if code != -signal.SIGKILL), codes
    assert codes.count(-signal.SIGKILL) <= (1 if killing else 0), codes
    assert crash_harness.run(forkserver, crash_worker.run, (str(home), fmt, "none", 1), home, fmt) == 0
    landed, rejected = crash_harness.landed(home, fmt)
    duplicated, lost = sum(landed.values()) - len(landed), len(events - landed)
    assert (duplicated, lost) == (0, 0)
    assert landed == events  # every event, each exactly once
    assert rejected == Counter(garbage)
