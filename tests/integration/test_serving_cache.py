"""A server answers a repeated query from its result cache, and never with an answer a commit made stale."""

from __future__ import annotations

import httpx
import pytest

from catalog.api import create_app
from catalog.model import PrincipalKind
from catalog.testing import serve_in_thread
from pipelines.core.names import Layer
from pipelines.ports.query_engine import QueryPermissionError
from pipelines.serving.http import query_router
from tests.integration.test_serving_data import ADMIN, REVENUE, Lake, lake, revenue_rows  # noqa: F401  (fixture)

TOTAL = "SELECT count(*) AS n, sum(orders) AS orders FROM orders.daily_revenue"


def test_a_repeated_query_is_answered_from_the_cache_until_a_commit(lake: Lake) -> None:  # noqa: F811
    first = lake.serving.query(TOTAL)
    again = lake.serving.query(TOTAL)
    assert (first.cached, again.cached) == (False, True)
    assert again.table.equals(first.table)
    store = lake.runtime.store_for("orders", Layer.GOLD, "daily_revenue")
    store.append(REVENUE, revenue_rows(1))
    after = lake.serving.query(TOTAL)
    assert not after.cached
    assert after.table["n"][0].as_py() == first.table["n"][0].as_py() + 3
    assert lake.serving.query(TOTAL).cached


def test_each_row_limit_has_its_own_answer(lake: Lake) -> None:  # noqa: F811
    sql = "SELECT * FROM orders.daily_revenue ORDER BY day, country"
    lake.serving.query(sql, max_rows=2)
    limited = lake.serving.query(sql, max_rows=2)
    whole = lake.serving.query(sql, max_rows=100)
    assert (limited.cached, limited.truncated, limited.table.num_rows) == (True, True, 2)
    assert (whole.cached, whole.truncated, whole.table.num_rows) == (False, False, 9)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*), current_date FROM orders.daily_revenue",
        "SELECT count(*), current_timestamp FROM orders.daily_revenue",
        "SELECT count(*), localtimestamp FROM orders.daily_revenue",
        "SELECT count(*), now() FROM orders.daily_revenue",
        "SELECT day FROM orders.daily_revenue WHERE random() < 0.5",
        "SELECT uuid() AS id, day FROM orders.daily_revenue",
        "SELECT * FROM orders.daily_revenue USING SAMPLE 50%",
        "SELECT count(*) FROM information_schema.tables",
    ],
)
def test_a_query_whose_answer_changes_by_itself_is_never_cached(lake: Lake, sql: str) -> None:  # noqa: F811
    lake.serving.query(sql)
    assert not lake.serving.query(sql).cached


def test_a_revoked_grant_is_refused_even_for_a_query_answered_before(lake: Lake) -> None:  # noqa: F811
    customers = "SELECT count(*) AS n FROM orders.customers"
    lake.catalog.grant(ADMIN, "orders.customers", "marketing")
    lake.serving.query(customers, "marketing")
    assert lake.serving.query(customers, "marketing").cached
    lake.catalog.revoke(ADMIN, "orders.customers", "marketing")
    with pytest.raises(QueryPermissionError, match=r"may not read orders\.customers"):
        lake.serving.query(customers, "marketing")


def test_the_http_answer_says_whether_it_came_from_the_cache(lake: Lake) -> None:  # noqa: F811
    app = create_app(lake.catalog)
    app.include_router(query_router(lake.serving))
    token = lake.catalog.create_token("analyst", PrincipalKind.READER, actor="test")
    headers = {"Authorization": f"Bearer {token}"}
    sql = {"sql": "SELECT sum(revenue) AS revenue FROM orders.daily_revenue"}
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        first = client.post("/api/query", json=sql, headers=headers)
        again = client.post("/api/query", json=sql, headers=headers)
        lake.runtime.store_for("orders", Layer.GOLD, "daily_revenue").append(REVENUE, revenue_rows(1))
        after = client.post("/api/query", json=sql, headers=headers)
    assert [r.headers["X-Meshlake-Cache"] for r in (first, again, after)] == ["miss", "hit", "miss"]
    assert again.json() == first.json()
    assert after.json() != first.json()


def test_grants_and_token_revocation_take_effect_on_the_very_next_http_request(lake: Lake) -> None:  # noqa: F811
    app = create_app(lake.catalog)
    app.include_router(query_router(lake.serving))
    token = lake.catalog.create_token("analyst", PrincipalKind.READER, actor="test")
    token_id = next(t.id for t in lake.catalog.list_tokens() if t.principal == "analyst")
    headers = {"Authorization": f"Bearer {token}"}
    customers = {"sql": "SELECT count(*) AS n FROM orders.customers"}
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.post("/api/query", json=customers, headers=headers).status_code == 403
        lake.catalog.grant(ADMIN, "orders.customers", "analyst")
        granted = [client.post("/api/query", json=customers, headers=headers) for _ in range(2)]
        assert [r.status_code for r in granted] == [200, 200]
        assert [r.headers["X-Meshlake-Cache"] for r in granted] == ["miss", "hit"]
        lake.catalog.revoke(ADMIN, "orders.customers", "analyst")
        refused = client.post("/api/query", json=customers, headers=headers)
        assert refused.status_code == 403 and "orders.customers" in refused.json()["detail"]
        public = {"sql": "SELECT count(*) AS n FROM orders.daily_revenue"}
        assert [client.post("/api/query", json=public, headers=headers).status_code for _ in range(2)] == [200, 200]
        lake.catalog.revoke_token(token_id, actor="test")
        revoked = client.post("/api/query", json=public, headers=headers)
        assert revoked.status_code == 401 and revoked.json() == {"detail": "unknown or revoked token"}
