"""The SQLite catalog of an Iceberg store: commits go to a write-ahead log, seen by every other opener."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa

from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.core.names import TableId

TABLE = TableId("shop", "carts")
SCHEMA = pa.schema([pa.field("cart_id", pa.string(), nullable=False)])


def test_the_sqlite_catalog_commits_to_a_write_ahead_log_that_other_openers_read(tmp_path: Path) -> None:
    writer = IcebergTableStore(tmp_path)
    writer.ensure_table(TABLE, SCHEMA)
    reader = IcebergTableStore(tmp_path)  # opened before the commit, like a parallel step
    commit = writer.append(TABLE, pa.table({"cart_id": ["c1", "c2"]}, schema=SCHEMA))

    with sqlite3.connect(tmp_path / "catalog.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert reader.history(TABLE)[-1].version == commit.version
    assert reader.read(TABLE).num_rows == 2
