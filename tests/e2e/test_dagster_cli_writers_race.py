"""Two `dagster asset materialize` processes, each with its own DAGSTER_HOME, running one home's domain at once.

Two schedulers (or a scheduler and a manual run) outside one Dagster concurrency pool ingested the
same files into the same bronze table at once and duplicated every event while both exited 0
(issue #24, failure 1). Here the two runs' ingest steps overlap in time (the domain's event log says
when each started and finished); in a variant one run is SIGKILLed, process group and all, at a
random moment of its ingest, and a third run finishes what it left. Then bronze and quarantine hold
each landed frame exactly once and silver (what the runs build) equals a full rebuild from bronze, on both
formats.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from pipelines.bootstrap import Runtime
from pipelines.core.event_log import EventKind
from pipelines.core.names import Layer
from pipelines.services.event_log import read_events
from pipelines.settings import Settings
from tests.paths import MESH as PROJECT_DIR
from tests.processes import finished
from tests.rebuild import NO_FRAME_ERRORS, assert_equals_a_rebuild, frame_errors

BIN = Path(sys.executable).parent
DOMAIN = "orders"
SELECT = f'key:"{DOMAIN}/bronze/*" or key:"{DOMAIN}/silver/*"'


def _start(env: dict[str, str], instance: Path) -> subprocess.Popen[bytes]:
    """A `dagster asset materialize` of the selection, in its own process group (its steps' processes too),
    its errors in `materialize.log` of its DAGSTER_HOME (Dagster logs every event: a pipe could fill up)."""
    instance.mkdir(exist_ok=True)
    with (instance / "materialize.log").open("wb") as errors:
        return subprocess.Popen(
            [str(BIN / "dagster"), "asset", "materialize", "-m", "meshlake.definitions", "--select", SELECT],
            env=env | {"DAGSTER_HOME": str(instance)},
            cwd=PROJECT_DIR,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )


def _finish(runs: list[subprocess.Popen[bytes]], instances: list[Path]) -> list[int]:
    """The runs' exit codes, all waited for within 300 s (their error output shown when one failed)."""
    codes = finished(runs, 300)
    if any(code not in (0, -signal.SIGKILL) for code in codes):
        logs = [(i / "materialize.log").read_text(errors="replace")[-1500:] for i in instances]
        pytest.fail(f"exit codes {codes}:\n" + "\n".join(logs))
    return codes


def _ingests(runtime: Runtime) -> dict[str, tuple[datetime, datetime | None]]:
    """When each run's first ingest (bronze) step started and its last ended (None: one has not), by run,
    from the domain's event log."""
    events = read_events(runtime.store_for(DOMAIN, Layer.EVENT_LOG), runtime.domain(DOMAIN).event_log_table())
    started: dict[str, list[datetime]] = {}
    ended: dict[str, list[datetime]] = {}
    for row in events.to_pylist():
        if row["asset"].startswith(f"{DOMAIN}/bronze/"):
            kind = EventKind(row["kind"])
            if kind == EventKind.RUN_STARTED:
                started.setdefault(row["run_id"], []).append(row["happened_at"])
            elif kind in (EventKind.RUN_FINISHED, EventKind.RUN_FAILED):
                ended.setdefault(row["run_id"], []).append(row["happened_at"])
    return {
        run: (min(starts), max(ended[run]) if len(ended.get(run, [])) == len(starts) else None)
        for run, starts in started.items()
    }


def _kill_during_ingest(runtime: Runtime, victim: subprocess.Popen[bytes], rng: random.Random) -> None:
    """SIGKILL the victim's process group at a random moment once both runs are ingesting."""
    deadline = time.monotonic() + 120
    while len(_ingests(runtime)) < 2:
        assert victim.poll() is None, "the run to kill ended before both runs were ingesting"
        assert time.monotonic() < deadline, "the two runs were not both ingesting within 120 s"
        time.sleep(0.05)
    time.sleep(rng.uniform(0, 1.5))
    os.killpg(victim.pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
@pytest.mark.parametrize("killed", [False, True], ids=["both-finish", "one-killed"])
def test_two_dagster_cli_runs_with_their_own_instances_land_each_event_once(
    tmp_path: Path, fmt: str, killed: bool
) -> None:
    home = tmp_path / "home"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    env = base | {"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt, "COLUMNS": "200"}
    generate = [str(BIN / "meshlake"), "generate", "--domain", DOMAIN, "--count", "10000", "--files", "4"]
    assert subprocess.run(generate, env=env, cwd=PROJECT_DIR, capture_output=True, timeout=120).returncode == 0
    runtime = Runtime(Settings.load(env={"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt}, cwd=PROJECT_DIR))

    instances = [tmp_path / f"dagster-{n}" for n in range(2)]
    racing = [_start(env, instance) for instance in instances]
    if killed:
        rng = random.Random(f"dagster-cli-{fmt}")
        _kill_during_ingest(runtime, rng.choice(racing), rng)
    codes = _finish(racing, instances)

    ingests = sorted(_ingests(runtime).values())
    assert len(ingests) == 2
    (_, first_ended), (second_started, _) = ingests
    assert first_ended is None or second_started < first_ended, f"the ingests did not overlap: {ingests}"
    if killed:
        assert sorted(codes) == [-signal.SIGKILL, 0]
        after = tmp_path / "dagster-after"
        assert _finish([_start(env, after)], [after]) == [0]  # finishes what the killed run left
    else:
        assert codes == [0, 0]
    assert frame_errors(runtime, DOMAIN) == NO_FRAME_ERRORS
    assert_equals_a_rebuild(runtime, DOMAIN, [Layer.SILVER])
