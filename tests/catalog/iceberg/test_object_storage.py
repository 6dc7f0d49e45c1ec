"""A warehouse on S3 (SeaweedFS): loadTable hands each client the storage settings, so it reads without its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from pyiceberg.catalog.rest import RestCatalog

from catalog.api import create_app
from catalog.iceberg import iceberg_router
from catalog.testing import serve_in_thread
from pipelines.adapters.duckdb.extensions import OFFLINE_CONFIG, load_extension
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.adapters.iceberg.catalog import open_sql_catalog
from pipelines.adapters.storage import StorageOptions, open_location
from pipelines.core.names import TableId
from pipelines.serving.iceberg_rest import IcebergBacking, vended_storage
from pipelines.settings import Settings
from tests.catalog.conftest import ORDERS
from tests.catalog.iceberg.conftest import SCHEMA, rows

REVENUE = TableId("orders", "daily_revenue")
SECRET_KEYS = {"s3.access-key-id", "s3.secret-access-key", "s3.session-token"}


@pytest.fixture
def s3_lake(tmp_path: Path, seeded, s3_prefix: str, s3_options: StorageOptions) -> Iterator[str]:
    """orders.daily_revenue on S3, served with the writer's key to orders and a read-only key to the others."""
    warehouse = open_location(f"{s3_prefix}/warehouse", s3_options)
    database = f"sqlite:///{tmp_path}/catalog.db"
    store = IcebergTableStore(warehouse, database)
    store.ensure_table(REVENUE, SCHEMA)
    store.append(REVENUE, rows(1, 2, 3))
    # SeaweedFS's test server has one key; in production the reader's is a key that may only read.
    storage = vended_storage(warehouse, reader=warehouse)
    sql = open_sql_catalog(database, warehouse.as_uri(), warehouse.iceberg_properties())
    with serve_in_thread(create_app(seeded.service, [iceberg_router(sql, storage)])) as url:
        yield f"{url}/iceberg"


def test_a_client_without_storage_settings_reads_a_granted_product(s3_lake: str, seeded) -> None:
    seeded.service.grant(ORDERS, "orders.daily_revenue", "shipping")
    table = RestCatalog("lake", uri=s3_lake, token=seeded.tokens["shipping"]).load_table("orders.daily_revenue")
    assert table.io.properties["s3.endpoint"].startswith("http://127.0.0.1:")
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [1, 2, 3]


def test_the_owner_appends_through_the_vended_settings(s3_lake: str, seeded) -> None:
    table = RestCatalog("lake", uri=s3_lake, token=seeded.tokens["orders"]).load_table("orders.daily_revenue")
    table.append(rows(4).cast(table.schema().as_arrow()))
    assert table.scan().to_arrow().num_rows == 4


def test_duckdb_reads_s3_files_with_only_its_catalog_token(s3_lake: str, seeded) -> None:
    seeded.service.grant(ORDERS, "orders.daily_revenue", "analyst")
    con = duckdb.connect(config=dict(OFFLINE_CONFIG))
    load_extension(con, "httpfs")
    load_extension(con, "iceberg")
    con.execute(f"CREATE SECRET lake_token (TYPE ICEBERG, TOKEN '{seeded.tokens['analyst']}')")
    con.execute(f"ATTACH 'warehouse' AS lake (TYPE ICEBERG, SECRET lake_token, ENDPOINT '{s3_lake}')")
    assert con.sql("SELECT count(*), sum(id) FROM lake.orders.daily_revenue").fetchone() == (3, 6)


def test_without_vended_settings_a_reader_gets_none(tmp_path: Path, seeded, s3_prefix, s3_options) -> None:
    warehouse = open_location(f"{s3_prefix}/bare", s3_options)
    database = f"sqlite:///{tmp_path}/bare.db"
    IcebergTableStore(warehouse, database).ensure_table(REVENUE, SCHEMA)
    sql = open_sql_catalog(database, warehouse.as_uri(), warehouse.iceberg_properties())
    with serve_in_thread(create_app(seeded.service, [iceberg_router(sql)])) as url:
        table = RestCatalog("lake", uri=f"{url}/iceberg", token=seeded.tokens["orders"]).load_table(
            "orders.daily_revenue"
        )
    assert not SECRET_KEYS & set(table.io.properties)
    assert not SECRET_KEYS & set(vended_storage(warehouse).config(owner=False))  # no read-only key: none given
    assert SECRET_KEYS & set(vended_storage(warehouse).config(owner=True))


def test_the_settings_name_the_warehouse_and_each_caller_s_key(tmp_path: Path, s3_prefix: str, s3_server) -> None:
    env = {
        "MESHLAKE_HOME": str(tmp_path / "home"),
        "MESHLAKE_WAREHOUSE": s3_prefix,
        "MESHLAKE_S3_ENDPOINT": s3_server.endpoint,
        "MESHLAKE_S3_ACCESS_KEY_ID": s3_server.access_key,
        "MESHLAKE_S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "MESHLAKE_S3_READER_ACCESS_KEY_ID": "reader",
        "MESHLAKE_S3_READER_SECRET_ACCESS_KEY": "reader-secret",
    }
    backing = IcebergBacking.of(Settings.load(env=env, cwd=tmp_path))

    assert backing.catalog.properties["warehouse"] == f"{s3_prefix}/iceberg"
    reader, writer = backing.storage.config(owner=False), backing.storage.config(owner=True)
    assert (reader["s3.access-key-id"], reader["s3.secret-access-key"]) == ("reader", "reader-secret")
    assert writer["s3.access-key-id"] == s3_server.access_key
    assert reader["s3.endpoint"] == writer["s3.endpoint"] == s3_server.endpoint
    assert reader["s3.path-style-access"] == "true"
