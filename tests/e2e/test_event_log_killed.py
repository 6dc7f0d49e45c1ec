"""A step killed with SIGKILL mid-run leaves its start and the commits it made in its domain's event log.

`meshlake materialize` ingests the ledger's landing files (tests/projects/events) one commit per
file; once the bronze table holds a few of the run's commits the test SIGKILLs the process group:
no `finally`, no flush. The event log must then hold the step's `run_started` and its commits, as
they were written while it ran.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.adapters.landing.writer import write_landing_file
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.services.event_log import RUN_ID_PROPERTY, read_events
from pipelines.settings import Settings
from tests.dagster.test_event_log import BIN, PROJECT

FILES = 300
STEP = "ledger/bronze/entry_posted"


def _landing(runtime: Runtime) -> None:
    message = runtime.contract("ledger", "entry_posted").message_class
    for i in range(FILES):
        entry = message(entry_id=f"e-{i}", account_id="a", amount=1)
        entry.posted_at.FromDatetime(datetime.now(UTC))
        write_landing_file(
            runtime.settings.landing_dir, "ledger", "entry_posted", f"f{i:04d}", [entry.SerializeToString()]
        )


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_step_killed_mid_run_leaves_its_start_and_commits(tmp_path: Path, fmt: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    env |= {
        "MESHLAKE_PROJECT": str(PROJECT),
        "MESHLAKE_HOME": str(tmp_path / "home"),
        "MESHLAKE_FORMAT": fmt,
        "MESHLAKE_INGEST_MAX_ROWS_PER_COMMIT": "1",  # a commit per landing file
        "TMPDIR": str(tmp_path),
    }
    runtime = Runtime(Settings.load(project=PROJECT, env=env))
    _landing(runtime)
    bronze, table = runtime.store_for("ledger", Layer.BRONZE), runtime.domain("ledger").bronze_table("entry_posted")
    log = (tmp_path / "materialize.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "meshlake"), "materialize", "--select", f"key:{STEP}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # the run's step processes too: the whole group is killed
    )
    try:
        deadline = time.monotonic() + 240
        while not (bronze.exists(table) and len(bronze.history(table)) >= 3):
            assert process.poll() is None, (tmp_path / "materialize.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no three bronze commits in 240 s"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        log.close()
    committed = Runtime(runtime.settings).store_for("ledger", Layer.BRONZE).history(table)
    assert len(committed) < FILES, "the step finished before it was killed"
    [run_id] = {c.properties[RUN_ID_PROPERTY] for c in committed}
    store = runtime.store_for("ledger", Layer.EVENT_LOG)
    events = [e for e in read_events(store, runtime.domain("ledger").event_log_table()).to_pylist()
              if e["run_id"] == run_id and e["asset"] == STEP]  # fmt: skip
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "run_started" and "run_finished" not in kinds and "run_failed" not in kinds
    logged = [e["version"] for e in events if e["kind"] == "commit" and e["table_name"] == str(table)]
    versions = [c.version for c in committed]
    # the kill may land between the last commit and its event's append: every other commit is there, in order
    assert logged in (versions, versions[:-1]), (logged, versions)
    assert all(e["rows_added"] == 1 and e["duration_ms"] >= 0 for e in events if e["kind"] == "commit")
