"""A warehouse on S3 (SeaweedFS): loadTable hands each client storage settings and a key limited to what it may do.

The SeaweedFS of these tests has, beside the warehouse's own key, a read-only key and a key of domain
`orders` that writes only under the warehouse's `orders/` folder, as an operator would configure them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from catalog.api import create_app
from catalog.iceberg import VendedStorage, iceberg_router
from catalog.testing import serve_in_thread
from pipelines.adapters.duckdb.extensions import OFFLINE_CONFIG, load_extension
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.adapters.iceberg.catalog import open_sql_catalog
from pipelines.adapters.seaweedfs import S3Identity, SeaweedServer
from pipelines.adapters.storage import Location, S3Options, StorageOptions, open_location
from pipelines.core.names import TableId
from pipelines.serving.iceberg_rest import IcebergBacking, vended_storage
from pipelines.settings import S3Key, Settings, SettingsError
from tests.catalog.conftest import ORDERS, Seeded
from tests.catalog.iceberg.conftest import SCHEMA, rows

REVENUE = TableId("orders", "daily_revenue")
DELIVERIES = TableId("shipping", "deliveries")
SECRET_KEYS = {"s3.access-key-id", "s3.secret-access-key", "s3.session-token"}
WAREHOUSE = "s3://meshlake/lake/iceberg"
DENIED = r"ACCESS_DENIED|AccessDenied"
READER = S3Key("reader-key", "reader-secret")
ORDERS_WRITER = S3Key("orders-key", "orders-secret")


@dataclass
class S3Lake:
    """Tables on SeaweedFS, their SQL catalog, and the pipelines' store writing them with the warehouse's key."""

    server: SeaweedServer
    warehouse: Location
    store: IcebergTableStore
    sql: SqlCatalog


@pytest.fixture(scope="module")
def s3_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Lake]:
    """orders.daily_revenue and shipping.deliveries, three rows each, on a SeaweedFS with scoped keys."""
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    data = tmp_path_factory.mktemp("scoped-s3")
    identities = (
        S3Identity("reader", READER.access_key_id, READER.secret_access_key, ("Read:meshlake", "List:meshlake")),
        S3Identity(
            "orders",
            ORDERS_WRITER.access_key_id,
            ORDERS_WRITER.secret_access_key,
            ("Read:meshlake/lake/iceberg/orders/*", "Write:meshlake/lake/iceberg/orders/*", "List:meshlake"),
        ),
    )
    with SeaweedServer(data / "weed", identities=identities, start_timeout_s=90) as server:
        s3 = S3Options(endpoint=server.endpoint, access_key_id=server.access_key, secret_access_key=server.secret_key)
        warehouse = open_location(WAREHOUSE, StorageOptions(s3))
        database = f"sqlite:///{data}/catalog.db"
        store = IcebergTableStore(warehouse, database)
        for table in (REVENUE, DELIVERIES):
            store.ensure_table(table, SCHEMA)
            store.append(table, rows(1, 2, 3))
        sql = open_sql_catalog(database, warehouse.as_uri(), warehouse.iceberg_properties())
        yield S3Lake(server, warehouse, store, sql)
        sql.engine.dispose()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def served(s3_lake: S3Lake, seeded: Seeded) -> Iterator[str]:
    """The Iceberg REST URI, handing the read-only key to readers and orders' own key to orders."""
    storage = vended_storage(s3_lake.warehouse, READER, {"orders": ORDERS_WRITER})
    with serve_in_thread(create_app(seeded.service, [iceberg_router(s3_lake.sql, storage)])) as url:
        yield f"{url}/iceberg"


def _load(uri: str, token: str, name: str, **properties: str) -> Table:
    table: Table = RestCatalog("lake", uri=uri, token=token, **properties).load_table(name)
    return table


def _put(table: Table, location: str) -> None:
    with table.io.new_output(location).create(overwrite=True) as out:
        out.write(b"x")


def test_a_reader_gets_the_read_only_key_which_reads_and_cannot_write(
    served: str, seeded: Seeded, s3_lake: S3Lake
) -> None:
    seeded.service.grant(ORDERS, "orders.daily_revenue", "shipping")
    table = _load(served, seeded.tokens["shipping"], "orders.daily_revenue")

    assert table.io.properties["s3.access-key-id"] == READER.access_key_id
    assert table.io.properties["s3.endpoint"] == s3_lake.server.endpoint
    assert sorted(table.scan().to_arrow().column("id").to_pylist())[:3] == [1, 2, 3]
    data_file = next(iter(table.inspect.files().column("file_path").to_pylist()))
    with pytest.raises(OSError, match=DENIED):
        _put(table, f"{table.location()}/data/planted.parquet")
    with pytest.raises(OSError, match=DENIED):
        table.io.delete(data_file)
    assert table.io.new_input(data_file).exists()


def test_an_owner_s_key_writes_its_namespace_and_is_refused_outside_it(
    served: str, seeded: Seeded, s3_lake: S3Lake
) -> None:
    table = _load(served, seeded.tokens["orders"], "orders.daily_revenue")
    assert table.io.properties["s3.access-key-id"] == ORDERS_WRITER.access_key_id

    _put(table, f"{table.location()}/data/own.bin")
    table.io.delete(f"{table.location()}/data/own.bin")
    deliveries = s3_lake.store.location(DELIVERIES)
    for outside in (f"{deliveries}/data/planted.bin", f"{WAREHOUSE}/planted.bin"):
        with pytest.raises(OSError, match=DENIED):
            _put(table, outside)
    with pytest.raises(OSError, match=DENIED):
        table.io.new_input(s3_lake.sql.load_table(("shipping", "deliveries")).metadata_location).open().read()


def test_the_owner_appends_through_the_vended_settings(served: str, seeded: Seeded, s3_lake: S3Lake) -> None:
    table = _load(served, seeded.tokens["orders"], "orders.daily_revenue")
    before = table.scan().to_arrow().num_rows

    table.append(rows(4).cast(table.schema().as_arrow()))

    assert s3_lake.store.read(REVENUE).num_rows == before + 1


def test_the_warehouse_s_own_key_goes_to_no_one(served: str, seeded: Seeded, s3_lake: S3Lake) -> None:
    """The admin, the other domain on its own namespace: no key configured for them, so none at all."""
    for principal, name in (("admin", "orders.daily_revenue"), ("shipping", "shipping.deliveries")):
        table = _load(served, seeded.tokens[principal], name)
        assert not SECRET_KEYS & set(table.io.properties), principal
        assert table.io.properties["s3.endpoint"] == s3_lake.server.endpoint
    own = {"s3.access-key-id": "mine", "s3.secret-access-key": "my-secret"}
    table = _load(served, seeded.tokens["shipping"], "shipping.deliveries", **own)
    assert table.io.properties["s3.access-key-id"] == "mine"  # the client's own key is left as it is


def test_duckdb_reads_s3_files_with_only_its_catalog_token(served: str, seeded: Seeded) -> None:
    seeded.service.grant(ORDERS, "orders.daily_revenue", "analyst")
    con = duckdb.connect(config=dict(OFFLINE_CONFIG))
    load_extension(con, "httpfs")
    load_extension(con, "iceberg")
    con.execute(f"CREATE SECRET lake_token (TYPE ICEBERG, TOKEN '{seeded.tokens['analyst']}')")
    con.execute(f"ATTACH 'warehouse' AS lake (TYPE ICEBERG, SECRET lake_token, ENDPOINT '{served}')")
    row = con.sql("SELECT count(*), sum(id) FROM lake.orders.daily_revenue WHERE id <= 3").fetchone()
    assert row is not None
    count, total = row
    assert (count, total) == (3, 6)


def test_without_configured_keys_no_credentials_are_given(s3_lake: S3Lake) -> None:
    storage = vended_storage(s3_lake.warehouse)
    assert storage == VendedStorage(common=storage.common)
    assert not SECRET_KEYS & set(storage.config("orders", owner=True))


def _env(tmp_path: Path, server: SeaweedServer, **more: str) -> dict[str, str]:
    return {
        "MESHLAKE_HOME": str(tmp_path / "home"),
        "MESHLAKE_WAREHOUSE": "s3://meshlake/lake",
        "MESHLAKE_S3_ENDPOINT": server.endpoint,
        "MESHLAKE_S3_ACCESS_KEY_ID": server.access_key,
        "MESHLAKE_S3_SECRET_ACCESS_KEY": server.secret_key,
        **more,
    }


def test_the_settings_name_the_warehouse_and_each_caller_s_key(tmp_path: Path, s3_lake: S3Lake) -> None:
    env = _env(
        tmp_path,
        s3_lake.server,
        MESHLAKE_S3_READER_ACCESS_KEY_ID=READER.access_key_id,
        MESHLAKE_S3_READER_SECRET_ACCESS_KEY=READER.secret_access_key,
        MESHLAKE_S3_WRITER_KEYS=f"orders={ORDERS_WRITER.access_key_id}:{ORDERS_WRITER.secret_access_key}, admin=a:b",
    )
    backing = IcebergBacking.of(Settings.load(env=env, cwd=tmp_path))

    assert backing.catalog.properties["warehouse"] == WAREHOUSE
    reader = backing.storage.config("orders", owner=False)
    writer = backing.storage.config("orders", owner=True)
    assert (reader["s3.access-key-id"], reader["s3.secret-access-key"]) == ("reader-key", "reader-secret")
    assert (writer["s3.access-key-id"], writer["s3.secret-access-key"]) == ("orders-key", "orders-secret")
    assert backing.storage.config("admin", owner=True)["s3.access-key-id"] == "a"
    assert not SECRET_KEYS & set(backing.storage.config("shipping", owner=True))
    assert reader["s3.endpoint"] == writer["s3.endpoint"] == s3_lake.server.endpoint
    assert reader["s3.path-style-access"] == "true"


@pytest.mark.parametrize(
    ("more", "message"),
    [
        ({"MESHLAKE_S3_READER_ACCESS_KEY_ID": "meshlake"}, "s3_reader_access_key_id and s3_reader_secret_access_key"),
        (
            {"MESHLAKE_S3_READER_ACCESS_KEY_ID": "meshlake", "MESHLAKE_S3_READER_SECRET_ACCESS_KEY": "x"},
            r"s3_reader_access_key_id is the warehouse's own key",
        ),
        ({"MESHLAKE_S3_WRITER_KEYS": "orders=meshlake:s3cr3t"}, r"s3_writer_keys \(orders\) is the warehouse's own"),
        ({"MESHLAKE_S3_WRITER_KEYS": "orders=k:s3cr3t,shipping:s3cr3t"}, "entry 2 is not principal=KEY_ID:SECRET"),
    ],
)
def test_a_vended_key_that_is_the_warehouse_s_or_malformed_is_refused(
    tmp_path: Path, s3_lake: S3Lake, more: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message) as refused:
        Settings.load(env=_env(tmp_path, s3_lake.server, **more), cwd=tmp_path)
    assert "s3cr3t" not in str(refused.value)
