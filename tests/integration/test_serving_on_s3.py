"""Products whose tables are on S3 are served like local ones: DuckDB by every read path (httpfs with a secret
scoped to the store), Polars with the store's options, time travel included."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from pipelines.adapters.delta import DeltaTableStore
from pipelines.adapters.duckdb.engine import DuckDbQueryEngine, ReadPath
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.adapters.polars.scan import lazy_frame
from pipelines.adapters.storage import StorageOptions, open_location
from pipelines.core.names import TableId
from pipelines.ports.table_store import TableStore
from pipelines.serving.scans import open_table, plan_scan

TABLE = TableId("shop", "clicks")
SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False, metadata={"PARQUET:field_id": "1"}),
        pa.field("page", pa.string(), metadata={"PARQUET:field_id": "2"}),
    ]
)


@pytest.fixture(params=["iceberg", "delta"])
def store(request: pytest.FixtureRequest, s3_prefix: str, s3_options: StorageOptions, tmp_path: Path) -> TableStore:
    store: TableStore
    if request.param == "iceberg":
        store = IcebergTableStore(open_location(f"{s3_prefix}/iceberg", s3_options), f"sqlite:///{tmp_path / 'c.db'}")
    else:
        store = DeltaTableStore(open_location(f"{s3_prefix}/delta", s3_options))
    # (DuckDB's delta_scan reads a Delta column carrying a field id as nulls, on any storage: left out here)
    schema = SCHEMA if request.param == "iceberg" else pa.schema([f.remove_metadata() for f in SCHEMA])
    store.ensure_table(TABLE, schema)
    store.append(TABLE, pa.table({"id": [1, 2, 3], "page": ["a", "b", "a"]}, schema=schema))
    store.append(TABLE, pa.table({"id": [4], "page": ["c"]}, schema=schema))
    return store


@pytest.mark.parametrize("read_path", ["arrow", "parquet", "native"])
def test_duckdb_serves_a_product_on_s3_by_every_read_path(store: TableStore, read_path: ReadPath) -> None:
    first = store.history(TABLE)[0].version
    engine = DuckDbQueryEngine(
        {"shop.clicks": lambda: plan_scan(store, TABLE), "shop.clicks_then": lambda: plan_scan(store, TABLE, first)},
        read_path=read_path,
    )
    engine.attach()
    result = engine.execute("SELECT count(*) AS n, sum(id) AS s FROM shop.clicks").table.to_pylist()
    then = engine.execute("SELECT count(*) AS n FROM shop.clicks_then").table.to_pylist()
    assert result == [{"n": 4, "s": 10}] and then == [{"n": 3}]
    assert set(engine.read_paths().values()) == {read_path}
    engine.close()


def test_polars_scans_a_product_on_s3(store: TableStore) -> None:
    scan = plan_scan(store, TABLE)
    assert all(f.startswith("s3://") for f in scan.files)
    frame = lazy_frame(scan).filter(pl.col("page") == "a").collect()
    assert sorted(frame["id"].to_list()) == [1, 3]
    state = open_table(store, TABLE).state
    assert state is not None and state.startswith("s3://")
