"""`meshlake materialize` behind a run holding its table's concurrency slot: a dead holder blocks nothing.

A run holds the pool `table:orders.bronze_order_placed` in its own process (a Dagster run started
like `meshlake materialize` starts them, its step asleep). Killed with SIGKILL, it keeps its slot and
stays STARTED; the next `meshlake materialize` of that table must find it dead, fail it, free the
slot and finish. While the holder is alive, a waiting command must sleep, not spin, and stop on SIGTERM.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path

import dagster as dg
import pytest

from pipelines.cli.materialize import dagster_instance
from pipelines.settings import Settings
from tests.paths import MESH as PROJECT_DIR

BIN = Path(sys.executable).parent
POOL = "table:orders.bronze_order_placed"
SELECT = "key:orders/bronze/order_placed"


def hold_the_pool(home: str) -> None:
    """A run of an asset in the pool that sleeps, started the way `meshlake materialize` starts runs."""
    from pipelines.cli.materialize import dagster_instance
    from pipelines.dagster.run_owner import owner_tags
    from pipelines.settings import Settings

    @dg.asset(pool=POOL)
    def holder() -> None:
        time.sleep(600)

    instance = dagster_instance(Settings.load(env={"MESHLAKE_HOME": home}, cwd=PROJECT_DIR))
    dg.materialize([holder], instance=instance, tags=owner_tags())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    return base | {"MESHLAKE_HOME": str(tmp_path / "home"), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def holder(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[BaseProcess, dg.DagsterInstance]]:
    """The holding run's process, once its slot is claimed, and the Dagster instance of the home."""
    home = Path(env["MESHLAKE_HOME"])
    generate = [str(BIN / "meshlake"), "generate", "--domain", "orders", "--count", "300", "--files", "1"]
    assert subprocess.run(generate, env=env, cwd=PROJECT_DIR, capture_output=True, timeout=120).returncode == 0
    process = multiprocessing.get_context("spawn").Process(target=hold_the_pool, args=(str(home),))
    process.start()
    deadline = time.monotonic() + 120
    while not (home / "dagster" / "dagster.yaml").exists():
        assert time.monotonic() < deadline and process.is_alive(), "the holder never prepared the Dagster home"
        time.sleep(0.2)
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # the instance's dagster.yaml names its folder so
    # Opened as a run opens it, under the home's lock: the holder may still be creating the storage.
    instance = dagster_instance(Settings.load(env={"MESHLAKE_HOME": str(home)}, cwd=PROJECT_DIR))
    while instance.event_log_storage.get_concurrency_info(POOL).active_slot_count < 1:
        assert time.monotonic() < deadline and process.is_alive(), "the holder never claimed its slot"
        time.sleep(0.2)
    yield process, instance
    if process.is_alive():
        process.kill()
    process.join(10)


@pytest.mark.slow
def test_a_run_killed_holding_its_pool_is_failed_and_the_next_materialize_proceeds(
    env: dict[str, str], holder: tuple[BaseProcess, dg.DagsterInstance]
) -> None:
    process, instance = holder
    [dead_run] = instance.event_log_storage.get_concurrency_info(POOL).active_run_ids
    process.kill()  # SIGKILL: no cleanup, the slot stays claimed
    process.join(10)

    started = time.monotonic()
    try:
        done = subprocess.run(
            [str(BIN / "meshlake"), "materialize", "--select", SELECT],
            env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("materialize still waits for the slot of a run whose process is gone")
    assert done.returncode == 0, done.stderr[-2000:]
    assert time.monotonic() - started < 90
    run = instance.get_run_by_id(dead_run)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE


@pytest.mark.slow
def test_materialize_waiting_behind_a_live_run_sleeps_and_stops_on_sigterm(
    env: dict[str, str], holder: tuple[BaseProcess, dg.DagsterInstance]
) -> None:
    command = [str(BIN / "meshlake"), "materialize", "--select", SELECT]
    waiting = subprocess.Popen(command, env=env, cwd=PROJECT_DIR, stdout=subprocess.PIPE)
    try:
        assert waiting.stdout is not None
        deadline, said = time.monotonic() + 90, b""
        while b"\n" not in said.partition(b"waiting for")[2]:  # up to the end of the line saying it
            assert time.monotonic() < deadline, f"materialize never said it waits for the pool: {said!r}"
            if select.select([waiting.stdout], [], [], 1)[0]:  # then a read returns at once (a line may not)
                chunk = os.read(waiting.stdout.fileno(), 65536)
                assert chunk, f"materialize exited with {waiting.wait(30)}: {said!r}"
                said += chunk
        assert f"{POOL} held by run".encode() in said
        before = cpu_seconds(waiting.pid)
        time.sleep(3)
        assert cpu_seconds(waiting.pid) - before < 0.5  # asleep, not spinning a core
        waiting.send_signal(signal.SIGTERM)
        waiting.wait(timeout=5)
        assert waiting.returncode != 0
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait(30)
