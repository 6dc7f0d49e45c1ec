"""The catalog's REST API over real HTTP: auth, governance, bad input, idempotency and concurrency."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import yaml

from catalog.client import CatalogClient
from catalog.errors import Forbidden, InvalidInput
from catalog.model import VersionIn
from tests.catalog.conftest import ADMIN, Seeded
from tests.docs_pages import assert_served_offline

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def http(live: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live, timeout=30) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_and_openapi_need_no_token(http: httpx.Client) -> None:
    assert http.get("/api/health").json() == {"status": "ok", "schema_revision": "0004"}
    spec = http.get("/openapi.json").json()
    assert "/api/products/{product}/versions" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize(("path", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_api_docs_work_offline(http: httpx.Client, path: str, script: str) -> None:
    """Swagger UI and ReDoc come from the installed package, not a CDN."""
    urls = assert_served_offline(http, path)
    assert "/openapi.json" in urls and any(url.endswith(script) for url in urls)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer mlk_wrong"}, {"Authorization": "Basic eDp5"}])
def test_requests_without_a_valid_token_are_refused(http: httpx.Client, headers: dict[str, str]) -> None:
    response = http.get("/api/products", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_reading_a_private_product_needs_a_grant(http: httpx.Client, seeded: Seeded) -> None:
    tokens = seeded.tokens
    url = "/api/products/orders.daily_revenue"
    assert http.get(url, headers=bearer(tokens["shipping"])).status_code == 403
    assert http.get("/api/products/orders.customers", headers=bearer(tokens["analyst"])).status_code == 200
    granted = http.put(f"{url}/grants/shipping", headers=bearer(tokens["orders"]))
    assert granted.status_code == 201
    assert http.put(f"{url}/grants/shipping", headers=bearer(tokens["orders"])).status_code == 200
    body = http.get(url, headers=bearer(tokens["shipping"])).json()
    assert body["owner"] == "team-orders" and body["columns"][3]["pii"] is True
    grants = http.get(f"{url}/grants", headers=bearer(tokens["orders"])).json()
    assert [(g["consumer"], g["granted_by"]) for g in grants] == [("shipping", "orders")]
    assert http.delete(f"{url}/grants/shipping", headers=bearer(tokens["shipping"])).status_code == 403
    assert http.delete(f"{url}/grants/shipping", headers=bearer(tokens["orders"])).status_code == 204
    assert http.get(url, headers=bearer(tokens["shipping"])).status_code == 403


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/products/orders.daily_revenue/versions", {"row_count": 1, "schema_hash": "h"}, "version"),
        ("/api/products/orders.daily_revenue/versions", {"version": -1, "row_count": 1, "schema_hash": "h"}, "version"),
        (
            "/api/products/orders.daily_revenue/versions",
            {"version": 1, "row_count": 2**63, "schema_hash": "h"},
            "row_count",
        ),
        (
            "/api/products/orders.daily_revenue/versions",
            {"version": 1, "row_count": 1, "schema_hash": "h", "x": 1},
            "x",
        ),
        ("/api/products/orders.daily_revenue", {"columns": [{"name": "a"}]}, "type"),
        ("/api/products/orders.daily_revenue", {"description": "nul\u0000byte"}, "description"),
        ("/api/products/orders.daily_revenue", {"freshness_sla_minutes": "soon"}, "freshness_sla_minutes"),
        ("/api/products/orders.daily_revenue", {"status": "gone"}, "status"),
        ("/api/products/Orders.X/versions", {"version": 1, "row_count": 1, "schema_hash": "h"}, "product"),
    ],
)
def test_invalid_payloads_get_422_naming_the_field(
    http: httpx.Client, seeded: Seeded, path: str, body: dict[str, object], field: str
) -> None:
    method = http.post if path.endswith("/versions") else http.put
    before = seeded.service.get_product(ADMIN, "orders.daily_revenue")
    response = method(path, json=body, headers=bearer(seeded.tokens["orders"]))
    assert response.status_code == 422
    assert field in [str(part) for error in response.json()["detail"] for part in error["loc"]]
    assert seeded.service.get_product(ADMIN, "orders.daily_revenue") == before  # nothing written


def test_malformed_json_is_a_4xx(http: httpx.Client, seeded: Seeded) -> None:
    response = http.post(
        "/api/products/orders.daily_revenue/versions",
        content=b"{not json",
        headers={**bearer(seeded.tokens["orders"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 422


def test_register_version_is_idempotent_over_http(http: httpx.Client, seeded: Seeded) -> None:
    url = "/api/products/orders.daily_revenue/versions"
    body = {"version": 42, "row_count": 7, "schema_hash": "h1", "run_id": "r42"}
    first = http.post(url, json=body, headers=bearer(seeded.tokens["orders"]))
    again = http.post(url, json=body, headers=bearer(seeded.tokens["orders"]))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    clash = http.post(url, json={**body, "row_count": 8}, headers=bearer(seeded.tokens["orders"]))
    assert clash.status_code == 409 and "row_count" in clash.json()["detail"]


def test_twenty_parallel_registrations_all_land_in_order(live: str, seeded: Seeded) -> None:
    def register(n: int) -> int:
        with CatalogClient(live, seeded.tokens["orders"]) as client:
            spec = VersionIn(version=n, row_count=n * 10, schema_hash="h1", materialized_at=T0 + timedelta(minutes=n))
            return client.register_version("orders.daily_revenue", spec)[0].seq

    with ThreadPoolExecutor(max_workers=20) as pool:
        seqs = list(pool.map(register, range(1, 21)))
    assert sorted(seqs) == list(range(1, 21))  # every registration got its own number: none lost
    with CatalogClient(live, seeded.tokens["orders"]) as client:
        versions = client.list_versions("orders.daily_revenue", limit=50)
        product = client.get_product("orders.daily_revenue")
    assert [v.version for v in versions] == list(range(20, 0, -1))  # newest first, in materialisation order
    assert product.version_count == 20 and product.latest_version and product.latest_version.version == 20
    audited = [e for e in seeded.service.audit(ADMIN, limit=500) if e.action == "version.register"]
    assert len(audited) == 20


def test_contract_endpoint_returns_odcs_yaml(http: httpx.Client, seeded: Seeded) -> None:
    response = http.get("/api/products/orders.daily_revenue/contract", headers=bearer(seeded.tokens["orders"]))
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/yaml")
    contract = yaml.safe_load(response.text)
    assert (contract["apiVersion"], contract["kind"], contract["id"]) == (
        "v3.1.0",
        "DataContract",
        "orders.daily_revenue",
    )
    email = contract["schema"][0]["properties"][3]
    assert email["name"] == "customer_email" and email["classification"] == "restricted"


def test_client_raises_the_service_errors(live: str, seeded: Seeded) -> None:
    with CatalogClient(live, seeded.tokens["shipping"]) as client:
        with pytest.raises(Forbidden, match="no grant"):
            client.get_product("orders.daily_revenue")
        with pytest.raises(InvalidInput, match=r"body\.version"):
            client._call("POST", "/products/shipping.deliveries/versions", json={})
        assert client.me().name == "shipping"
        assert [d.name for d in client.list_domains()] == ["orders", "shipping"]
        assert client.readable_products() == ["orders.customers", "shipping.deliveries"]


def test_audit_endpoint(http: httpx.Client, seeded: Seeded) -> None:
    entries = http.get("/api/audit", params={"limit": 3}, headers=bearer(seeded.tokens["admin"])).json()
    assert [e["action"] for e in entries] == ["token.create"] * 3
    assert http.get("/api/audit", headers=bearer(seeded.tokens["analyst"])).status_code == 403


def test_a_refused_candidate_is_shown_to_its_domain_and_admins_until_a_build_publishes(
    http: httpx.Client, seeded: Seeded
) -> None:
    tokens, url = seeded.tokens, "/api/products/orders.daily_revenue"
    checks = f"{url}/checks"
    assert http.get(f"{url}/candidate", headers=bearer(tokens["orders"])).json() is None
    refused = {
        "run_id": "run-8",
        "refused_version": 8123456789012345678,  # an Iceberg snapshot id: 64 bits
        "results": [
            {"check": "range_revenue", "passed": False, "message": "2 rows below 0"},
            {"check": "row_count", "passed": False, "severity": "warn"},
            {"check": "not_null_day", "passed": True},
        ],
    }
    assert http.post(checks, json=refused, headers=bearer(tokens["orders"])).status_code == 200
    http.put(f"{url}/grants/shipping", headers=bearer(tokens["orders"]))

    for who in ("orders", "admin"):
        shown = http.get(f"{url}/candidate", headers=bearer(tokens[who]))
        assert shown.status_code == 200, shown.text
        body = shown.json()
        assert (body["product"], body["version"], body["run_id"], body["failing"]) == (
            "orders.daily_revenue", 8123456789012345678, "run-8", ["range_revenue"]
        )  # fmt: skip
        assert datetime.fromisoformat(body["refused_at"]) > datetime.now(UTC) - timedelta(minutes=5)
    for who in ("shipping", "analyst"):  # a granted consumer reads the product, never its candidate
        assert http.get(f"{url}/candidate", headers=bearer(tokens[who])).status_code == 403
    assert http.get(url, headers=bearer(tokens["shipping"])).status_code == 200

    published = {"run_id": "run-9", "results": [{"check": "range_revenue", "passed": True}]}
    assert http.post(checks, json=published, headers=bearer(tokens["orders"])).status_code == 200
    assert http.get(f"{url}/candidate", headers=bearer(tokens["orders"])).json() is None


def test_a_refused_candidate_discarded_by_maintenance_is_no_longer_shown(http: httpx.Client, seeded: Seeded) -> None:
    tokens, url = seeded.tokens, "/api/products/orders.daily_revenue"
    refused = {"run_id": "run-8", "refused_version": 8, "results": [{"check": "range_revenue", "passed": False}]}
    assert http.post(f"{url}/checks", json=refused, headers=bearer(tokens["orders"])).status_code == 200
    http.put(f"{url}/grants/shipping", headers=bearer(tokens["orders"]))

    assert http.delete(f"{url}/candidate/8", headers=bearer(tokens["shipping"])).status_code == 403
    for bad in ("-1", str(2**63), "eight"):
        answer = http.delete(f"{url}/candidate/{bad}", headers=bearer(tokens["orders"]))
        assert answer.status_code == 422 and "version" in answer.text, answer.text
    assert http.get(f"{url}/candidate", headers=bearer(tokens["orders"])).json()["version"] == 8

    assert http.delete(f"{url}/candidate/8", headers=bearer(tokens["orders"])).status_code == 204
    assert http.get(f"{url}/candidate", headers=bearer(tokens["orders"])).json() is None
    assert http.delete(f"{url}/candidate/8", headers=bearer(tokens["orders"])).status_code == 204  # idempotent
