"""A commit that lost a race to another writer and is tried again is a `retry` log line of the asset run."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines import logs
from pipelines.adapters.iceberg.catalog import open_sql_catalog
from pipelines.adapters.iceberg.compat import CachedTransaction
from pipelines.adapters.iceberg.transaction import commit_with_retries
from pipelines.core.names import TableId


def test_a_lost_iceberg_commit_race_logs_a_retry_of_the_running_asset(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = open_sql_catalog(f"sqlite:///{tmp_path / 'catalog.db'}", (tmp_path / "warehouse").as_uri())
    catalog.create_namespace("shop")
    catalog.create_table(("shop", "sales"), pa.schema([pa.field("n", pa.int64())]))
    rival: list[bool] = []

    def stage(tx: CachedTransaction) -> None:
        if not rival:  # another writer commits after this attempt loaded the table
            catalog.load_table(("shop", "sales")).append(pa.table({"n": pa.array([1], pa.int64())}))
            rival.append(True)
        tx.append(pa.table({"n": pa.array([2], pa.int64())}))

    caplog.set_level(logging.INFO, logger="pipelines")
    with logs.running(logs.AssetRun("shop", "shop/bronze/sale_made", "run-1")):
        commit_with_retries(
            TableId("shop", "sales"), lambda: catalog.load_table(("shop", "sales")), lambda _: [], None, stage
        )
    assert sorted(catalog.load_table(("shop", "sales")).scan().to_arrow().column("n").to_pylist()) == [1, 2]
    (retry,) = [getattr(r, logs.FIELDS) for r in caplog.records if hasattr(r, logs.FIELDS)]
    assert retry == {
        "event": "retry",
        "domain": "shop",
        "asset": "shop/bronze/sale_made",
        "run_id": "run-1",
        "table": "shop.sales",
        "version": None,  # the lost attempt followed the empty table
        "attempt": 2,
        "reason": "another commit came first",
    }
