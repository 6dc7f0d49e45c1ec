"""Sail (a Spark Connect server) with the catalog service as its Iceberg REST catalog: the Spark API over the grants."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pysail.spark import SparkConnectServer
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from tests.catalog.conftest import ORDERS
from tests.catalog.iceberg.conftest import Lake


@pytest.fixture
def spark_as(
    lake: Lake, monkeypatch: pytest.MonkeyPatch, spark_client: None
) -> Iterator[Callable[[str], SparkSession]]:
    """A Spark session whose catalog `lake` is the Iceberg REST API, authenticated as a principal."""
    servers: list[SparkConnectServer] = []
    sessions: list[SparkSession] = []

    def session(principal: str) -> SparkSession:
        catalog = (
            f'{{type="iceberg-rest", name="lake", uri="{lake.uri}", bearer_access_token="{lake.tokens[principal]}"}}'
        )
        monkeypatch.setenv("SAIL_CATALOG__LIST", f"[{catalog}]")  # Sail reads its configuration when it starts
        server = SparkConnectServer(ip="127.0.0.1", port=0)
        server.start(background=True)
        servers.append(server)
        host, port = server.listening_address
        sessions.append(SparkSession.builder.remote(f"sc://{host}:{port}").create())
        return sessions[-1]

    yield session
    for spark in sessions:
        spark.stop()
    for server in servers:
        server.stop()


def test_spark_reads_granted_gold_and_is_refused_internal_tables(
    spark_as: Callable[[str], SparkSession], lake: Lake
) -> None:
    lake.service.grant(ORDERS, "orders.daily_revenue", "shipping")
    spark = spark_as("shipping")

    tables = {row.tableName for row in spark.sql("SHOW TABLES IN lake.orders").collect()}
    assert tables == {"customers", "daily_revenue"}
    assert spark.sql("SELECT count(*) AS n, sum(id) AS s FROM lake.orders.daily_revenue").first() == (3, 6)
    with pytest.raises(PySparkException, match="403"):
        spark.sql("SELECT count(*) FROM lake.orders.silver_orders").collect()


def test_spark_inserts_into_the_own_domain_s_table(spark_as: Callable[[str], SparkSession], lake: Lake) -> None:
    spark = spark_as("orders")
    spark.sql("INSERT INTO lake.orders.daily_revenue VALUES (4, 6.0)").collect()
    assert sorted(
        lake.rest("orders").load_table("orders.daily_revenue").scan().to_arrow().column("id").to_pylist()
    ) == [
        1,
        2,
        3,
        4,
    ]
