"""Delta reads go through pyarrow's native filesystems, never deltalake's Python one.

deltalake's default dataset reads through `pyarrow.fs.PyFileSystem(DeltaStorageHandler)`. Arrow's scan
threads drop their last references to it after a read has returned; one that does so while the process
exits needs the GIL, is ended by the exiting interpreter, and the process aborts with "terminate called
without an active exception" (`meshlake events` exited -6 in 7 of 250 runs, and so failed a CI run).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs
import pytest

from pipelines.adapters.delta import DeltaTableStore
from pipelines.adapters.delta.scan import DeltaScans
from pipelines.core.names import TableId
from pipelines.ports.table_store import PartitionField

TABLE = TableId("shop", "orders")
SCHEMA = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("at", pa.timestamp("us", tz="UTC"))])


@pytest.fixture
def no_python_filesystem(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_: object, **__: object) -> None:
        raise AssertionError("a Delta read built a pyarrow.fs.PyFileSystem")

    monkeypatch.setattr(pyarrow.fs, "PyFileSystem", refused)


def _orders(store: DeltaTableStore) -> None:
    store.ensure_table(TABLE, SCHEMA, [PartitionField("id")])  # values in the log, not the files: not "exact"
    for day in (1, 2):
        at = datetime(2026, 12, day, 10, tzinfo=UTC)
        store.append(TABLE, pa.table({"id": [f"o {day}:%"], "at": [at]}, schema=SCHEMA), {})  # escaped in paths


def test_reads_scans_and_keyed_deletes_use_a_native_filesystem(tmp_path: Path, no_python_filesystem: None) -> None:
    store = DeltaTableStore(tmp_path)
    _orders(store)
    first = store.history(TABLE)[0].version

    assert sorted(store.read(TABLE).column("id").to_pylist()) == ["o 1:%", "o 2:%"]
    assert store.read(TABLE, ["id"], as_of=first).column("id").to_pylist() == ["o 1:%"]
    scan = DeltaScans(store, TABLE).plan()
    assert not scan.exact
    dataset = scan.arrow()
    assert isinstance(dataset, ds.Dataset)
    assert sorted(dataset.to_table().column("id").to_pylist()) == ["o 1:%", "o 2:%"]
    store.delete_rows(TABLE, pa.table({"id": ["o 1:%"]}))
    assert store.read(TABLE, ["id"]).column("id").to_pylist() == ["o 2:%"]
