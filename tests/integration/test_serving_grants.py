"""Only what a principal may read is visible; anything else fails with a message saying why."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from pipelines.ports.query_engine import QueryError, QueryPermissionError, QueryRefusedError
from tests.integration.test_serving_data import ADMIN, Lake, lake  # noqa: F401  (fixture)


def _views(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.sql("SELECT table_schema || '.' || table_name FROM information_schema.tables").fetchall()
    return {name for (name,) in rows if not name.startswith(("main.", "temp."))}


def test_a_principal_sees_public_own_and_granted_products_only(lake: Lake) -> None:  # noqa: F811
    assert _views(lake.serving.connect("marketing")) == {"orders.daily_revenue", "marketing.campaigns"}
    assert _views(lake.serving.connect("orders")) == {"orders.daily_revenue", "orders.customers"}
    lake.catalog.grant(ADMIN, "orders.customers", "marketing")
    assert "orders.customers" in _views(lake.serving.connect("marketing"))


def test_local_access_without_a_principal_sees_every_materialised_product(lake: Lake) -> None:  # noqa: F811
    assert _views(lake.serving.connect()) == {
        "orders.daily_revenue",
        "orders.customers",
        "marketing.campaigns",
    }


def test_reading_an_ungranted_product_names_the_owner_to_ask(lake: Lake) -> None:  # noqa: F811
    with pytest.raises(QueryPermissionError) as refused:
        lake.serving.query("SELECT * FROM orders.customers", "marketing")
    message = str(refused.value)
    assert "principal 'marketing' may not read orders.customers" in message
    assert "team-orders" in message
    with pytest.raises(QueryPermissionError, match=r"may not read orders\.customers"):
        lake.serving.scan("orders.customers", principal="marketing")


def test_another_domains_silver_is_internal(lake: Lake) -> None:  # noqa: F811
    sql = "SELECT d.day FROM orders.daily_revenue d JOIN orders.silver_orders s ON true"
    with pytest.raises(QueryPermissionError) as refused:
        lake.serving.query(sql, "marketing")
    assert "orders.silver_orders is a silver table, internal to domain 'orders'" in str(refused.value)
    assert "only data products are served" in str(refused.value)


def test_an_unknown_name_lists_what_is_readable(lake: Lake) -> None:  # noqa: F811
    with pytest.raises(QueryPermissionError, match=r"orders\.nope is not a data product you may read"):
        lake.serving.query("SELECT * FROM orders.nope", "marketing")


def test_the_principal_connection_cannot_read_the_silver_table_even_by_file(lake: Lake) -> None:  # noqa: F811
    con = lake.serving.connect("marketing", lockdown=True)
    silver = next((lake.home).rglob("silver_orders"))
    with pytest.raises(duckdb.Error, match=r"disabled by configuration|Permission Error"):
        con.sql(f"SELECT * FROM read_parquet('{silver}/**/*.parquet')").fetchall()
    with pytest.raises(duckdb.Error, match="lock"):
        con.execute("SET enable_external_access = true")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_parquet('x.parquet')",
        "SELECT * FROM 'x.parquet'",
        "ATTACH 'other.db'",
        "SELECT 1; SELECT 2",
        "COPY (SELECT 1) TO 'out.csv'",
    ],
)
def test_the_python_query_refuses_what_http_refuses(lake: Lake, sql: str) -> None:  # noqa: F811
    with pytest.raises(QueryRefusedError):
        lake.serving.query(sql, "marketing")


def test_python_variables_are_not_tables(lake: Lake) -> None:  # noqa: F811
    secret = pa.table({"password": ["hunter2"]})
    with pytest.raises(QueryError, match="Table with name secret does not exist"):
        lake.serving.query("SELECT * FROM secret", "marketing")
    assert secret.num_rows == 1


def test_duckdb_errors_come_back_as_query_errors(lake: Lake) -> None:  # noqa: F811
    with pytest.raises(QueryError, match='Referenced column "nope" not found'):
        lake.serving.query("SELECT nope FROM orders.daily_revenue", "marketing")
