"""`POST /api/query` on a real catalog server: read-only SQL over granted products, JSON or Arrow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow as pa
import pytest

from catalog.api import create_app
from catalog.model import PrincipalKind
from catalog.testing import serve_in_thread
from pipelines.serving.http import ARROW_STREAM, catalog_app, query_router
from tests.integration.test_serving_data import Lake, build_lake


@pytest.fixture(scope="module", params=["iceberg", "delta"])
def lake(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """One lake per format for the module: the tests only read."""
    built = build_lake(tmp_path_factory.mktemp(f"http-{request.param}"), request.param)
    yield built
    built.catalog.close()


@pytest.fixture(scope="module")
def api(lake: Lake) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """A client of a real catalog server with the query router, and bearer headers per principal."""
    app = create_app(lake.catalog)
    app.include_router(query_router(lake.serving))
    tokens = {
        "marketing": lake.catalog.create_token("marketing", PrincipalKind.DOMAIN, actor="test"),
        "orders": lake.catalog.create_token("orders", PrincipalKind.DOMAIN, actor="test"),
    }
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client, {name: f"Bearer {token}" for name, token in tokens.items()}


def _post(api: tuple[httpx.Client, dict[str, str]], sql: str, who: str = "marketing", **extra: Any) -> httpx.Response:
    client, auth = api
    headers = {"Authorization": auth[who]} | extra.pop("headers", {})
    return client.post("/api/query", json={"sql": sql, **extra}, headers=headers)


def test_json_answer_with_exact_decimals_and_iso_dates(api: tuple[httpx.Client, dict[str, str]]) -> None:
    response = _post(api, "SELECT day, country, revenue FROM orders.daily_revenue ORDER BY day, country LIMIT 2")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["columns"] == [
        {"name": "day", "type": "date32[day]"},
        {"name": "country", "type": "string"},
        {"name": "revenue", "type": "decimal128(18, 2)"},
    ]
    assert body["rows"][0] == {"day": "2026-05-01", "country": "DE", "revenue": "20.25"}
    assert body["row_count"] == 2 and body["truncated"] is False


def test_arrow_stream_answer(api: tuple[httpx.Client, dict[str, str]]) -> None:
    response = _post(api, "SELECT * FROM marketing.campaigns ORDER BY 1", headers={"Accept": ARROW_STREAM})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == ARROW_STREAM
    table = pa.ipc.open_stream(response.content).read_all()
    assert table.to_pydict() == {"campaign": ["spring", "summer"], "country": ["DE", "FR"]}


def test_row_limit_truncates_and_says_so(api: tuple[httpx.Client, dict[str, str]]) -> None:
    response = _post(api, "SELECT * FROM orders.daily_revenue", max_rows=4)
    assert response.status_code == 200
    assert response.json()["row_count"] == 4 and response.json()["truncated"] is True
    assert response.headers["X-Meshlake-Truncated"] == "true"


def test_as_of_reads_an_earlier_version(api: tuple[httpx.Client, dict[str, str]], lake: Lake) -> None:
    response = _post(api, "SELECT count(*) AS n FROM orders.daily_revenue", as_of=str(lake.first_version))
    assert response.json()["rows"] == [{"n": 6}]


def test_a_token_is_required(api: tuple[httpx.Client, dict[str, str]]) -> None:
    client, _ = api
    response = client.post("/api/query", json={"sql": "SELECT 1"})
    assert response.status_code == 401


def test_ungranted_product_and_other_domains_silver_are_forbidden(api: tuple[httpx.Client, dict[str, str]]) -> None:
    private = _post(api, "SELECT * FROM orders.customers")
    assert private.status_code == 403
    assert "may not read orders.customers" in private.json()["detail"]
    silver = _post(api, "SELECT * FROM orders.silver_orders")
    assert silver.status_code == 403
    assert "silver table, internal to domain 'orders'" in silver.json()["detail"]
    assert _post(api, "SELECT count(*) FROM orders.customers", who="orders").status_code == 200


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH 'other.db' AS other",
        "COPY (SELECT 1) TO 'out.csv'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA database_list",
        "SET threads = 1",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_parquet('data.parquet')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM duckdb_settings()",
        "SELECT 1; SELECT 2",
        "SELECT 1; DROP VIEW orders.daily_revenue",
        "CREATE TABLE t AS SELECT 1",
        "DETACH memory",
        "EXPORT DATABASE 'dump'",
        "CALL pragma_version()",
    ],
)
def test_anything_but_one_read_only_select_is_refused(api: tuple[httpx.Client, dict[str, str]], sql: str) -> None:
    response = _post(api, sql)
    assert response.status_code == 400, response.text
    assert response.json()["detail"]


def test_malformed_sql_gives_duckdbs_error_and_the_service_keeps_serving(
    api: tuple[httpx.Client, dict[str, str]],
) -> None:
    response = _post(api, "SELEC country FROM orders.daily_revenue")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Parser Error: syntax error at or near")
    assert _post(api, "SELECT count(*) AS n FROM orders.daily_revenue").json()["rows"] == [{"n": 9}]


def test_a_query_past_its_timeout_is_stopped(api: tuple[httpx.Client, dict[str, str]]) -> None:
    slow = "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b"
    response = _post(api, slow, timeout_s=0.3)
    assert response.status_code == 408
    assert "was stopped" in response.json()["detail"]
    assert _post(api, "SELECT 1 AS one").json()["rows"] == [{"one": 1}]


def test_the_connection_is_locked_down_and_bounded(api: tuple[httpx.Client, dict[str, str]]) -> None:
    settings = ("enable_external_access", "lock_configuration", "memory_limit", "temp_directory")
    sql = "SELECT " + ", ".join(f"current_setting('{name}') AS {name}" for name in settings)
    assert _post(api, sql).json()["rows"] == [
        {"enable_external_access": False, "lock_configuration": True, "memory_limit": "953.6 MiB", "temp_directory": ""}
    ]


def test_a_query_past_its_memory_limit_fails_and_the_service_keeps_serving(
    api: tuple[httpx.Client, dict[str, str]],
) -> None:
    response = _post(api, "SELECT list(range) FROM range(400000000)")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Out of Memory Error")
    assert _post(api, "SELECT 1 AS one").json()["rows"] == [{"one": 1}]


def test_the_catalog_app_factory_includes_the_query_endpoint(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHLAKE_HOME", str(lake.home))
    app = catalog_app(lake.catalog)
    assert "post" in app.openapi()["paths"]["/api/query"]
