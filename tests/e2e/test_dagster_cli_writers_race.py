"""Two `dagster asset materialize` processes, each with its own DAGSTER_HOME, ingesting one home's landing files.

Two schedulers (or a scheduler and a manual run) outside one Dagster concurrency pool ingested the
same files into the same bronze table at once and duplicated every event while both exited 0
(issue #24, failure 1). The loser of the commit race must re-read the ledger and drop what the
winner committed: bronze holds each landed event exactly once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.settings import Settings
from tests.landed import landed_counts
from tests.paths import MESH as PROJECT_DIR
from tests.processes import finished

BIN = Path(sys.executable).parent
SELECT = "key:orders/bronze/order_placed"


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_two_dagster_cli_runs_with_their_own_instances_land_each_event_once(tmp_path: Path, fmt: str) -> None:
    home = tmp_path / "home"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    env = base | {"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt, "COLUMNS": "200"}
    generate = [str(BIN / "meshlake"), "generate", "--domain", "orders", "--count", "20000", "--files", "8"]
    assert subprocess.run(generate, env=env, cwd=PROJECT_DIR, capture_output=True, timeout=120).returncode == 0

    command = [str(BIN / "dagster"), "asset", "materialize", "-m", "meshlake.definitions", "--select", SELECT]
    instances = [tmp_path / f"dagster-{n}" for n in range(2)]
    for instance in instances:
        instance.mkdir()
    logs = [instance / "materialize.log" for instance in instances]
    racing = []
    for instance, log in zip(instances, logs, strict=True):  # Dagster logs every event: a pipe could fill up
        with log.open("wb") as errors:
            env_of = env | {"DAGSTER_HOME": str(instance)}
            racing.append(
                subprocess.Popen(command, env=env_of, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=errors)
            )
    assert finished(racing, 300) == [0, 0], "\n".join(log.read_text(errors="replace")[-1500:] for log in logs)

    runtime = Runtime(Settings.load(env={"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt}, cwd=PROJECT_DIR))
    table = runtime.domain("orders").bronze_table("order_placed")
    bronze = runtime.store_for("orders", Layer.BRONZE).read(table, ["_ingest"]).column(0).combine_chunks()
    keys = list(zip(bronze.field("source").to_pylist(), bronze.field("offset").to_pylist(), strict=True))
    assert len(keys) == len(set(keys))  # no duplicate
    assert len(keys) == landed_counts(runtime, "orders", "order_placed")[0]  # none lost
