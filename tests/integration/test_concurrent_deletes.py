"""Processes deleting other rows of one table at once all succeed: each delete lands, nothing else goes.

Quarantine replays of one domain running at once each delete the rows they moved to bronze. A delete
that loses the race must be planned again on the winner's table (it was refused: pyiceberg's
"Added data files were found matching the filter", delta-rs's "a concurrent transaction added new
data"), on both table formats.
"""

from __future__ import annotations

from multiprocessing.context import ForkServerContext
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.adapters.delta import DeltaTableStore
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.core.names import TableId
from pipelines.ports.table_store import TableStore
from tests.integration import crash_harness
from tests.processes import BARRIER_TIMEOUT_S, joined

TABLE = TableId("shop", "rows")
WRITERS, ROWS = 4, 200


def open_store(fmt: str, root: str) -> TableStore:
    return IcebergTableStore(Path(root) / "iceberg") if fmt == "iceberg" else DeltaTableStore(Path(root) / "delta")


def delete(fmt: str, root: str, writer: int, start: Barrier) -> None:
    """Delete the rows `writer` and `writer + 100`, once every writer is ready."""
    store = open_store(fmt, root)
    start.wait(BARRIER_TIMEOUT_S)
    store.delete_rows(TABLE, pa.table({"k": [writer, 100 + writer]}), {"meshlake.run_id": f"delete-{writer}"})


@pytest.fixture(scope="module")
def forkserver() -> ForkServerContext:
    return crash_harness.forkserver()


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_deletes_of_other_rows_racing_all_land(tmp_path: Path, fmt: str, forkserver: ForkServerContext) -> None:
    store = open_store(fmt, str(tmp_path))
    store.ensure_table(TABLE, pa.schema([("k", pa.int64()), ("v", pa.string())]))
    for part in range(4):  # rows in several files, so that the deletes rewrite different ones
        keys = list(range(part * 50, part * 50 + 50))
        store.append(TABLE, pa.table({"k": keys, "v": [str(k) for k in keys]}))
    start = forkserver.Barrier(WRITERS)
    processes = [
        forkserver.Process(target=delete, args=(fmt, str(tmp_path), writer, start)) for writer in range(WRITERS)
    ]
    for process in processes:
        process.start()
    assert joined(processes, 120) == [0] * WRITERS
    deleted = {k for writer in range(WRITERS) for k in (writer, 100 + writer)}
    assert sorted(store.read(TABLE).column("k").to_pylist()) == sorted(set(range(ROWS)) - deleted)
    runs = [c.properties.get("meshlake.run_id") for c in store.history(TABLE)[-WRITERS:]]
    assert sorted(runs, key=str) == [f"delete-{writer}" for writer in range(WRITERS)]  # one commit each
