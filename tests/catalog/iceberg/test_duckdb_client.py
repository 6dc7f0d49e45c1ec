"""DuckDB's iceberg extension (the offline wheels) attaches the catalog service's Iceberg REST API."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from pipelines.adapters.duckdb.extensions import OFFLINE_CONFIG, load_extension
from tests.catalog.conftest import ORDERS
from tests.catalog.iceberg.conftest import Lake


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(config=dict(OFFLINE_CONFIG))
    load_extension(connection, "httpfs")  # the REST client's HTTP
    load_extension(connection, "iceberg")
    yield connection
    connection.close()


def _attach(con: duckdb.DuckDBPyConnection, lake: Lake, secret: str) -> None:
    con.execute(f"CREATE SECRET lake_secret ({secret})")
    con.execute(f"ATTACH 'warehouse' AS lake (TYPE ICEBERG, SECRET lake_secret, ENDPOINT '{lake.uri}')")


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.sql("SELECT schema, name FROM (SHOW ALL TABLES) WHERE database = 'lake' ORDER BY ALL").fetchall()
    return [f"{schema}.{name}" for schema, name in rows]


def test_a_token_reads_granted_gold_products_and_is_refused_the_rest(
    con: duckdb.DuckDBPyConnection, lake: Lake
) -> None:
    lake.service.grant(ORDERS, "orders.daily_revenue", "shipping")
    _attach(con, lake, f"TYPE ICEBERG, TOKEN '{lake.tokens['shipping']}'")

    assert _tables(con) == ["orders.customers", "orders.daily_revenue", "shipping.deliveries"]
    assert con.sql("SELECT count(*), sum(id) FROM lake.orders.daily_revenue").fetchone() == (3, 6)
    with pytest.raises(duckdb.Error, match=r"may not read orders\.silver_orders"):
        con.sql("SELECT count(*) FROM lake.orders.silver_orders").fetchall()


def test_an_ungranted_product_is_refused(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    _attach(con, lake, f"TYPE ICEBERG, TOKEN '{lake.tokens['analyst']}'")

    assert _tables(con) == ["orders.customers"]
    with pytest.raises(duckdb.Error, match=r"may not read orders\.daily_revenue"):
        con.sql("SELECT count(*) FROM lake.orders.daily_revenue").fetchall()


def test_oauth_client_credentials(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    secret = (
        f"TYPE ICEBERG, CLIENT_ID 'shipping', CLIENT_SECRET '{lake.tokens['shipping']}', "
        f"OAUTH2_SERVER_URI '{lake.uri}/v1/oauth/tokens'"
    )
    _attach(con, lake, secret)

    assert con.sql("SELECT count(*) FROM lake.orders.customers").fetchone() == (3,)
    with pytest.raises(duckdb.Error, match=r"may not read orders\.daily_revenue"):
        con.sql("SELECT count(*) FROM lake.orders.daily_revenue").fetchall()


def test_a_wrong_client_secret_is_refused(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    secret = (
        f"TYPE ICEBERG, CLIENT_ID 'orders', CLIENT_SECRET '{lake.tokens['shipping']}', "
        f"OAUTH2_SERVER_URI '{lake.uri}/v1/oauth/tokens'"
    )
    with pytest.raises(duckdb.Error):
        _attach(con, lake, secret)
