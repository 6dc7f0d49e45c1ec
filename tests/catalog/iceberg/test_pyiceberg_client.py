"""pyiceberg's RestCatalog against the catalog service's Iceberg REST API: grants, commits, conflicts, audit."""

from __future__ import annotations

import httpx
import pyarrow as pa
import pytest
from pyiceberg.exceptions import (
    CommitFailedException,
    ForbiddenError,
    NoSuchTableError,
    OAuthError,
    UnauthorizedError,
)
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField

from pipelines.core.names import TableId
from tests.catalog.conftest import ADMIN, ORDERS
from tests.catalog.iceberg.conftest import Lake, rows


def _actions(lake: Lake, subject: str) -> list[str]:
    """The Iceberg API's audit entries on `subject`, newest first."""
    return [e.action for e in lake.service.audit(ADMIN, limit=100, subject=subject) if e.action.startswith("iceberg.")]


def _without_retries(lake: Lake, name: str) -> None:
    """pyiceberg retries a conflicting append on a refreshed table; these tests want to see the 409 itself."""
    with lake.rest("orders").load_table(name).transaction() as tx:
        tx.set_properties({"commit.retry.num-retries": "0"})


def test_the_owner_lists_loads_scans_and_appends_what_the_pipelines_wrote(lake: Lake) -> None:
    orders = lake.rest("orders")
    assert set(orders.list_namespaces()) == {("orders",), ("shipping",)}
    assert sorted(t for _, t in orders.list_tables("orders")) == [
        "bronze_order_placed",
        "customers",
        "daily_revenue",
        "quarantine",
        "silver_orders",
    ]
    table = orders.load_table("orders.silver_orders")
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [1, 2, 3]

    table.append(rows(4))

    # the pipelines see the REST commit at once: one catalog
    assert sorted(lake.store.read(TableId("orders", "silver_orders")).column("id").to_pylist()) == [1, 2, 3, 4]
    assert "iceberg.commit" in _actions(lake, "orders.silver_orders")


def test_another_domain_sees_only_public_or_granted_gold_products(lake: Lake) -> None:
    shipping = lake.rest("shipping")
    assert shipping.list_tables("orders") == [("orders", "customers")]
    assert shipping.load_table("orders.customers").scan().to_arrow().num_rows == 3
    with pytest.raises(ForbiddenError, match=r"may not read orders\.daily_revenue"):
        shipping.load_table("orders.daily_revenue")

    lake.service.grant(ORDERS, "orders.daily_revenue", "shipping")

    assert sorted(shipping.list_tables("orders")) == [("orders", "customers"), ("orders", "daily_revenue")]
    assert shipping.load_table("orders.daily_revenue").scan().to_arrow().num_rows == 3
    for internal in ("bronze_order_placed", "silver_orders", "quarantine"):
        with pytest.raises(ForbiddenError, match="never bronze, silver or quarantine"):
            shipping.load_table(f"orders.{internal}")
    assert _actions(lake, "orders.silver_orders") == ["iceberg.refuse"]


def test_a_reader_reads_granted_products_and_writes_nothing(lake: Lake) -> None:
    analyst = lake.rest("analyst")
    assert analyst.list_tables("orders") == [("orders", "customers")]
    assert analyst.list_tables("shipping") == []
    table = analyst.load_table("orders.customers")
    with pytest.raises(ForbiddenError, match="only domain 'orders'"):
        table.append(rows(9))
    assert lake.store.read(TableId("orders", "customers")).num_rows == 3
    assert _actions(lake, "orders.customers") == ["iceberg.refuse"]


def test_writes_go_only_to_the_own_namespace(lake: Lake) -> None:
    shipping = lake.rest("shipping")
    schema = Schema(NestedField(1, "id", LongType(), required=True))
    with pytest.raises(ForbiddenError, match="only domain 'orders'"):
        shipping.create_table("orders.sneaky", schema)
    with pytest.raises(ForbiddenError):
        shipping.drop_table("orders.customers")
    created = shipping.create_table("shipping.routes", schema)
    assert created.location().endswith("/shipping/routes")
    assert ("shipping", "routes") in shipping.list_tables("shipping")
    shipping.drop_table("shipping.routes")
    assert not shipping.table_exists("shipping.routes")
    assert _actions(lake, "shipping.routes") == ["iceberg.drop", "iceberg.create"]


def test_a_table_outside_the_own_namespace_folder_is_refused(lake: Lake) -> None:
    other = lake.store.location(TableId("orders", "daily_revenue"))
    with pytest.raises(ForbiddenError, match="must live under"):
        lake.rest("shipping").register_table("shipping.stolen", other)
    assert not lake.rest("admin").table_exists("shipping.stolen")


def test_a_stale_commit_gets_409_and_changes_nothing(lake: Lake) -> None:
    _without_retries(lake, "orders.daily_revenue")
    orders = lake.rest("orders")
    first, second = orders.load_table("orders.daily_revenue"), orders.load_table("orders.daily_revenue")
    first.append(rows(4))
    after_first = orders.load_table("orders.daily_revenue").metadata_location

    with pytest.raises(CommitFailedException):
        second.append(rows(5))

    table = orders.load_table("orders.daily_revenue")
    assert table.metadata_location == after_first
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [1, 2, 3, 4]
    assert _actions(lake, "orders.daily_revenue")[:2] == ["iceberg.conflict", "iceberg.commit"]


def test_pyiceberg_retries_a_conflicting_append_on_the_refreshed_table(lake: Lake) -> None:
    orders = lake.rest("orders")
    first, second = orders.load_table("orders.daily_revenue"), orders.load_table("orders.daily_revenue")
    first.append(rows(4))
    second.append(rows(5))  # 409, refresh, commit again on top of the first

    ids = lake.store.read(TableId("orders", "daily_revenue")).column("id").to_pylist()
    assert sorted(ids) == [1, 2, 3, 4, 5]


def test_a_pipeline_commit_makes_a_rest_client_s_view_stale(lake: Lake) -> None:
    _without_retries(lake, "orders.daily_revenue")
    table = lake.rest("orders").load_table("orders.daily_revenue")
    lake.store.append(TableId("orders", "daily_revenue"), rows(7))

    with pytest.raises(CommitFailedException):
        table.append(rows(8))

    assert sorted(lake.store.read(TableId("orders", "daily_revenue")).column("id").to_pylist()) == [1, 2, 3, 7]


def test_without_a_valid_token_every_call_is_401(lake: Lake) -> None:
    with pytest.raises(UnauthorizedError):
        lake.rest("orders", token="mlk_not-a-token")
    response = httpx.get(f"{lake.uri}/v1/namespaces/orders/tables/customers")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "NotAuthorizedException"
    assert response.headers["www-authenticate"] == "Bearer"


def test_oauth_client_credentials_map_to_the_same_principal(lake: Lake) -> None:
    oauth = {"oauth2-server-uri": f"{lake.uri}/v1/oauth/tokens"}
    shipping = lake.rest("x", credential=f"shipping:{lake.tokens['shipping']}", **oauth)
    assert shipping.list_tables("orders") == [("orders", "customers")]
    with pytest.raises(OAuthError, match="not a token of principal 'orders'"):
        lake.rest("x", credential=f"orders:{lake.tokens['shipping']}", **oauth)
    refused = httpx.post(f"{lake.uri}/v1/oauth/tokens", data={"grant_type": "password", "client_id": "orders"})
    assert (refused.status_code, refused.json()["error"]) == (400, "unsupported_grant_type")


def test_a_transaction_commits_every_table_or_none(lake: Lake) -> None:
    orders = lake.rest("orders")
    revenue, customers = orders.load_table("orders.daily_revenue"), orders.load_table("orders.customers")
    stale_id = customers.metadata.current_snapshot_id
    customers.append(rows(4))

    def change(table_name: str, snapshot_id: int | None) -> dict[str, object]:
        return {
            "identifier": {"namespace": ["orders"], "name": table_name},
            "requirements": [{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": snapshot_id}],
            "updates": [{"action": "set-properties", "updates": {"owner": "orders"}}],
        }

    body = {
        "table-changes": [change("daily_revenue", revenue.metadata.current_snapshot_id), change("customers", stale_id)]
    }
    headers = {"Authorization": f"Bearer {lake.tokens['orders']}"}
    refused = httpx.post(f"{lake.uri}/v1/transactions/commit", json=body, headers=headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["type"] == "CommitFailedException"
    assert "owner" not in orders.load_table("orders.daily_revenue").properties

    body["table-changes"][1] = change("customers", orders.load_table("orders.customers").metadata.current_snapshot_id)
    assert httpx.post(f"{lake.uri}/v1/transactions/commit", json=body, headers=headers).status_code == 204
    assert orders.load_table("orders.daily_revenue").properties["owner"] == "orders"
    assert orders.load_table("orders.customers").properties["owner"] == "orders"


def test_a_missing_table_is_404_for_its_owner(lake: Lake) -> None:
    with pytest.raises(NoSuchTableError):
        lake.rest("orders").load_table("orders.nothing")


def test_scan_of_a_granted_product_matches_the_pipelines_read(lake: Lake) -> None:
    lake.service.grant(ORDERS, "orders.daily_revenue", "analyst")
    scanned = lake.rest("analyst").load_table("orders.daily_revenue").scan().to_arrow()
    expected = lake.store.read(TableId("orders", "daily_revenue"))
    assert scanned.sort_by("id").select(["id", "amount"]).cast(expected.schema).equals(expected.sort_by("id"))
    assert isinstance(scanned, pa.Table)


def test_a_staged_create_becomes_a_table_at_its_first_commit(lake: Lake) -> None:
    shipping = lake.rest("shipping")
    schema = Schema(NestedField(1, "id", LongType(), required=True))
    with shipping.create_table_transaction("shipping.staged", schema) as tx:
        tx.set_properties({"stage": "done"})
    assert shipping.load_table("shipping.staged").properties["stage"] == "done"
    assert _actions(lake, "shipping.staged") == ["iceberg.commit"]
