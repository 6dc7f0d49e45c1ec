"""kill -9 bronze ingestion of landing files at 14 points, then re-run: every event lands exactly once.

Each run is a separate process (forked from a forkserver that has the libraries and schemas loaded,
see `crash_worker`), killed with SIGKILL at a named stage (data files written but not committed,
quarantine committed but not bronze, bronze committed) or at a random moment once the run has made
its first bronze commit. Commits are made per landing file, so every run gets a little further. A final
run must then leave bronze holding each generated event exactly once (event id, source file, byte offset)
and quarantine each undecodable frame exactly once, on Iceberg and on Delta.
"""

from __future__ import annotations

import random
import signal
from collections import Counter
from multiprocessing.context import ForkServerContext
from pathlib import Path

import pytest

from tests.integration import crash_harness, crash_worker

PLAN = [
    "files-written:1",
    "quarantine-committed:1",
    "bronze-committed:1",
    "timed",
    "files-written:2",
    "bronze-committed:2",
    "timed",
    "files-written:1",
    "quarantine-committed:2",
    "timed",
    "files-written:1",
    "timed",
    "bronze-committed:1",
    "timed",
]


@pytest.fixture(scope="module")
def forkserver() -> ForkServerContext:
    """Processes forked from a server that imported `crash_worker` (libraries, compiled schemas) once."""
    return crash_harness.forkserver()  # preloads the NATS crash test's worker too: one forkserver per pytest


def run(context: ForkServerContext, home: Path, fmt: str, stage: str, rng: random.Random | None = None) -> int | None:
    """One ingestion process; with `rng`, SIGKILLed at a random moment after its first bronze commit."""
    return crash_harness.run(context, crash_worker.run, (str(home), fmt, stage, 1), home, fmt, rng)


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_kill_9_at_any_point_then_rerun_lands_every_event_exactly_once(
    tmp_path: Path, fmt: str, forkserver: ForkServerContext
) -> None:
    home = tmp_path / "home"
    events, garbage = crash_harness.land(home)
    rng = random.Random(f"crash-{fmt}")
    outcomes = []
    for stage in PLAN:
        timed = stage == "timed"
        outcomes.append((stage, run(forkserver, home, fmt, "none" if timed else stage, rng if timed else None)))

    killed = [stage for stage, code in outcomes if code == -signal.SIGKILL]
    assert len(killed) >= 10, outcomes
    assert all(code == -signal.SIGKILL for stage, code in outcomes if stage != "timed"), outcomes
    added, present = crash_worker.referenced_and_present(home, fmt)
    assert present > added, "no kill fell between writing data files and committing them"

    assert run(forkserver, home, fmt, "none") == 0
    assert run(forkserver, home, fmt, "none") == 0  # a run after the recovery finds nothing to do

    landed, rejected = crash_harness.landed(home, fmt)
    assert landed == events  # every event, each exactly once
    assert rejected == Counter(garbage)
