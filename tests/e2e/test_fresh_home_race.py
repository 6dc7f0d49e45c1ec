"""Several first runs started at once on a new home: Dagster's storage, the catalogs and the tables are made once.

Two schedulers (or a scheduler and a person) each start `meshlake materialize` on a home nothing has
used yet. Each creates Dagster's storage, the Iceberg catalog and the tables it writes, at the same
moment as the others. Every run must succeed, later runs too, and bronze must hold each event once.
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
def test_first_runs_racing_on_a_new_home_all_succeed_and_land_each_event_once(tmp_path: Path, fmt: str) -> None:
    home = tmp_path / "home"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    env = base | {"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt, "COLUMNS": "200"}
    generate = [str(BIN / "meshlake"), "generate", "--domain", "orders", "--count", "2000", "--files", "2"]
    assert subprocess.run(generate, env=env, cwd=PROJECT_DIR, capture_output=True, timeout=120).returncode == 0
    assert not (home / "dagster").exists()

    command = [str(BIN / "meshlake"), "materialize", "--select", SELECT]
    logs = [tmp_path / f"materialize-{n}.log" for n in range(3)]
    racing = []
    for log in logs:  # errors go to files: pipes read one process after another could stall the others when full
        with log.open("wb") as errors:
            racing.append(subprocess.Popen(command, env=env, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=errors))
    assert finished(racing, 300) == [0, 0, 0], "\n".join(log.read_text(errors="replace")[-1500:] for log in logs)
    later = subprocess.run(command, env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)
    assert later.returncode == 0, later.stderr[-1500:]

    runtime = Runtime(Settings.load(env={"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt}, cwd=PROJECT_DIR))
    table = runtime.domain("orders").bronze_table("order_placed")
    bronze = runtime.store_for("orders", Layer.BRONZE).read(table, ["_ingest"]).column(0).combine_chunks()
    keys = list(zip(bronze.field("source").to_pylist(), bronze.field("offset").to_pylist(), strict=True))
    assert len(keys) == len(set(keys)) == landed_counts(runtime, "orders", "order_placed")[0]
