"""The Iceberg store's catalog and data files: commits go to a write-ahead log, seen by every other opener;
rows become files per partition and target size."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.adapters.iceberg.data_files import TARGET_FILE_SIZE
from pipelines.adapters.iceberg.transaction import write_rows
from pipelines.core.names import TableId
from pipelines.ports.table_store import PartitionField
from tests.contract.test_table_store import SCHEMA as CONTRACT_SCHEMA
from tests.contract.test_table_store import rows

TABLE = TableId("shop", "carts")
SCHEMA = pa.schema([pa.field("cart_id", pa.string(), nullable=False)])
DAILY = TableId("orders", "daily")


def test_the_sqlite_catalog_commits_to_a_write_ahead_log_that_other_openers_read(tmp_path: Path) -> None:
    writer = IcebergTableStore(tmp_path)
    writer.ensure_table(TABLE, SCHEMA)
    reader = IcebergTableStore(tmp_path)  # opened before the commit, like a parallel step
    commit = writer.append(TABLE, pa.table({"cart_id": ["c1", "c2"]}, schema=SCHEMA))

    with sqlite3.connect(tmp_path / "catalog.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert reader.history(TABLE)[-1].version == commit.version
    assert reader.read(TABLE).num_rows == 2


def test_a_table_loaded_before_another_stores_commit_is_read_at_that_commit(tmp_path: Path) -> None:
    """Parsed metadata files are kept per process; the catalog's pointer to the current one is not."""
    reader, writer = IcebergTableStore(tmp_path), IcebergTableStore(tmp_path)
    reader.ensure_table(TABLE, SCHEMA)
    reader.append(TABLE, pa.table({"cart_id": ["c1"]}, schema=SCHEMA))
    assert reader.read(TABLE).num_rows == 1

    commit = writer.append(TABLE, pa.table({"cart_id": ["c2", "c3"]}, schema=SCHEMA))

    assert reader.history(TABLE)[-1] == commit
    assert sorted(reader.read(TABLE).column("cart_id").to_pylist()) == ["c1", "c2", "c3"]


def test_rows_past_the_target_file_size_are_written_as_several_files_per_partition(tmp_path: Path) -> None:
    store = IcebergTableStore(tmp_path)
    store.ensure_table(DAILY, CONTRACT_SCHEMA, [PartitionField("placed_at", "day")])
    ice = store._load(DAILY)
    day_one = pa.concat_tables([rows(1)] * 40).combine_chunks()
    with ice.transaction() as tx:
        tx.set_properties({TARGET_FILE_SIZE: str(int(day_one.nbytes / 3.5))})  # day 1: 3.5x the target
    data = pa.concat_tables([day_one, *[rows(2)] * 3])  # day 2: far under it

    files = write_rows(store._load(DAILY), data)

    per_day: dict[object, list[int]] = {}
    for data_file in files:
        per_day.setdefault(data_file.partition[0], []).append(data_file.record_count)
    assert sorted(len(counts) for counts in per_day.values()) == [1, 4]
    assert sorted(sum(counts) for counts in per_day.values()) == [3, 40]
    assert max(max(c) - min(c) for c in per_day.values()) <= 1  # even pieces


def test_a_namespace_another_process_creates_between_check_and_insert_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two steps of one domain in their own processes: both find the namespace missing, both insert it."""
    late, first = IcebergTableStore(tmp_path), IcebergTableStore(tmp_path)
    first.ensure_table(TableId("shop", "orders"), SCHEMA)  # the other process wins the insert
    checks: list[object] = []
    real_check = late._catalog.namespace_exists

    def stale_first_check(namespace: str | tuple[str, ...]) -> bool:  # `late` checked before the other process inserted
        checks.append(namespace)
        return len(checks) > 1 and real_check(namespace)

    monkeypatch.setattr(late._catalog, "namespace_exists", stale_first_check)

    late.ensure_table(TABLE, SCHEMA)

    assert late.read(TABLE).num_rows == 0
    assert sorted(late._catalog.list_tables("shop")) == [("shop", "carts"), ("shop", "orders")]
