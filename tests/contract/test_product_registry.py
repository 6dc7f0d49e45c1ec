"""The ProductRegistry behaviour suite, run against the embedded and the HTTP (real uvicorn) registries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from catalog.api import create_app
from catalog.model import Principal, PrincipalKind
from catalog.service import CatalogService
from catalog.testing import serve_in_thread
from pipelines.adapters.catalog import EmbeddedProductRegistry, HttpProductRegistry
from pipelines.ports.registry import (
    CheckResult,
    ProductColumn,
    ProductDescription,
    ProductRegistry,
    ProductVersion,
    RegistryConflictError,
    RegistryInvalidError,
    RegistryNotFoundError,
    RegistryPermissionError,
)

ADMIN = Principal(name="admin", kind=PrincipalKind.ADMIN)
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@dataclass
class Harness:
    registry_for: Callable[[str], ProductRegistry]
    service: CatalogService  # to look at what was recorded


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    """A real uvicorn server on 127.0.0.1 for the module; each test points it at a fresh catalog."""
    placeholder = CatalogService.open(f"sqlite:///{tmp_path_factory.mktemp('placeholder') / 'catalog.db'}")
    app = create_app(placeholder)
    with serve_in_thread(app) as url:
        yield app, url
    placeholder.close()


@pytest.fixture(params=["embedded", "http"])
def harness(request: pytest.FixtureRequest, tmp_path: Path, server: tuple[FastAPI, str]) -> Iterator[Harness]:
    db_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    service = CatalogService.open(db_url)
    with ExitStack() as stack:
        if request.param == "embedded":

            def make(principal: str) -> ProductRegistry:
                registry = EmbeddedProductRegistry(db_url, principal)
                stack.callback(registry.close)
                return registry
        else:
            app, base_url = server
            app.state.service = service

            def make(principal: str) -> ProductRegistry:
                registry = HttpProductRegistry(base_url, service.create_token(principal, PrincipalKind.DOMAIN))
                stack.callback(registry.close)
                return registry

        yield Harness(make, service)
    service.close()


def describe(product: str = "orders.daily_revenue", **changes: Any) -> ProductDescription:
    fields: dict[str, Any] = {
        "product": product,
        "description": "Revenue by day",
        "columns": [
            ProductColumn("day", "date32", "UTC day", nullable=False),
            ProductColumn("revenue", "decimal128(18, 2)", "Sum of order totals"),
            ProductColumn("email", "string", "Customer e-mail", pii=True),
        ],
        "table_format": "iceberg",
        "location": "file:///lake/orders/daily_revenue",
        "tags": ["finance"],
        "freshness_sla_minutes": 120,
    }
    return ProductDescription(**{**fields, **changes})


def version(n: int, product: str = "orders.daily_revenue", rows: int = 10) -> ProductVersion:
    return ProductVersion(product, n, rows, "h1", f"run-{n}", T0 + n * 1000, {"snapshot_summary": "append"})


@pytest.fixture
def orders(harness: Harness) -> ProductRegistry:
    registry = harness.registry_for("orders")
    registry.register_domain("orders", "team-orders", "orders@example.com")
    registry.register_product(describe())
    return registry


def test_is_a_product_registry(orders: ProductRegistry) -> None:
    assert isinstance(orders, ProductRegistry)


def test_registers_product_with_schema_and_owner(harness: Harness, orders: ProductRegistry) -> None:
    product = harness.service.get_product(ADMIN, "orders.daily_revenue")
    assert product.owner == "team-orders"
    assert [(c.name, c.pii, c.nullable) for c in product.columns] == [
        ("day", False, False),
        ("revenue", False, True),
        ("email", True, True),
    ]
    assert product.tags == ["finance"] and product.freshness_sla_minutes == 120


def test_re_registering_the_same_description_writes_nothing(harness: Harness, orders: ProductRegistry) -> None:
    before = len(harness.service.audit(ADMIN))
    orders.register_product(describe())
    orders.register_domain("orders", "team-orders", "orders@example.com")
    assert len(harness.service.audit(ADMIN)) == before


def test_a_changed_description_is_updated(harness: Harness, orders: ProductRegistry) -> None:
    orders.register_product(describe(description="Revenue per UTC day", upstream=["orders.customers"]))
    product = harness.service.get_product(ADMIN, "orders.daily_revenue")
    assert product.description == "Revenue per UTC day" and product.upstream == ["orders.customers"]


def test_version_registration_is_idempotent(harness: Harness, orders: ProductRegistry) -> None:
    assert orders.register_version(version(1)) is True
    assert orders.register_version(version(1)) is False
    product = harness.service.get_product(ADMIN, "orders.daily_revenue")
    assert product.version_count == 1 and product.versions[0].run_id == "run-1"


def test_same_version_with_other_rows_conflicts(orders: ProductRegistry) -> None:
    orders.register_version(version(1))
    with pytest.raises(RegistryConflictError, match="row_count"):
        orders.register_version(version(1, rows=11))


def test_versions_are_listed_newest_first(harness: Harness, orders: ProductRegistry) -> None:
    for n in (3, 1, 2):
        orders.register_version(version(n))
    product = harness.service.get_product(ADMIN, "orders.daily_revenue")
    assert [v.version for v in product.versions] == [3, 2, 1]
    assert product.latest_version is not None and product.latest_version.version == 3


def test_unknown_product_is_not_found(orders: ProductRegistry) -> None:
    with pytest.raises(RegistryNotFoundError):
        orders.register_version(version(1, product="orders.nothing"))


def test_product_of_unregistered_domain_is_not_found(harness: Harness) -> None:
    with pytest.raises(RegistryNotFoundError, match="domain"):
        harness.registry_for("billing").register_product(describe("billing.invoices"))


def test_another_domain_may_not_write(harness: Harness, orders: ProductRegistry) -> None:
    shipping = harness.registry_for("shipping")
    with pytest.raises(RegistryPermissionError):
        shipping.register_version(version(1))
    with pytest.raises(RegistryPermissionError):
        shipping.register_domain("orders", "intruders")
    with pytest.raises(RegistryPermissionError):
        shipping.grant("orders.daily_revenue", "shipping")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"upstream": ["Not A Product"]}, "upstream"),
        ({"columns": [ProductColumn("bad name", "int64")]}, "columns"),
        ({"freshness_sla_minutes": 0}, "freshness_sla_minutes"),
        ({"tags": ["Has Space"]}, "tags"),
    ],
)
def test_invalid_description_names_the_field(
    harness: Harness, orders: ProductRegistry, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(RegistryInvalidError, match=field):
        orders.register_product(describe(**changes))
    assert harness.service.get_product(ADMIN, "orders.daily_revenue").upstream == []


def test_invalid_version_names_the_field(orders: ProductRegistry) -> None:
    with pytest.raises(RegistryInvalidError, match="row_count"):
        orders.register_version(version(1, rows=-1))


def test_reads_need_a_grant_unless_public(harness: Harness, orders: ProductRegistry) -> None:
    orders.register_product(describe("orders.open_data", public=True))
    shipping = harness.registry_for("shipping")
    assert list(shipping.readable_products()) == ["orders.open_data"]
    orders.grant("orders.daily_revenue", "shipping")
    orders.grant("orders.daily_revenue", "shipping")
    assert list(shipping.readable_products()) == ["orders.daily_revenue", "orders.open_data"]
    orders.revoke("orders.daily_revenue", "shipping")
    orders.revoke("orders.daily_revenue", "shipping")
    assert list(shipping.readable_products()) == ["orders.open_data"]
    assert list(orders.readable_products()) == ["orders.daily_revenue", "orders.open_data"]


def test_revoke_on_unknown_product_is_not_found(orders: ProductRegistry) -> None:
    with pytest.raises(RegistryNotFoundError):
        orders.revoke("orders.nothing", "shipping")


def test_check_results_drive_quality(harness: Harness, orders: ProductRegistry) -> None:
    orders.record_checks("orders.daily_revenue", "run-1", [CheckResult("not_null_day", True)])
    assert harness.service.get_product(ADMIN, "orders.daily_revenue").quality == "passing"
    orders.record_checks("orders.daily_revenue", "run-2", [CheckResult("row_count", False, "warn", "only 3 rows")])
    assert harness.service.get_product(ADMIN, "orders.daily_revenue").quality == "warning"
    orders.record_checks("orders.daily_revenue", "run-3", [CheckResult("not_null_day", False)])
    assert harness.service.get_product(ADMIN, "orders.daily_revenue").quality == "failing"


def test_a_run_that_refused_a_candidate_shows_it_until_a_run_without_one(
    harness: Harness, orders: ProductRegistry
) -> None:
    orders.record_checks("orders.daily_revenue", "run-1", [CheckResult("range_revenue", False)], refused_version=9)

    candidate = harness.service.refused_candidate(ADMIN, "orders.daily_revenue")
    assert candidate is not None and (candidate.version, candidate.run_id, candidate.failing) == (
        9, "run-1", ["range_revenue"]
    )  # fmt: skip
    orders.record_checks("orders.daily_revenue", "run-2", [CheckResult("range_revenue", True)])
    assert harness.service.refused_candidate(ADMIN, "orders.daily_revenue") is None


def test_a_candidate_discarded_by_maintenance_is_no_longer_shown_by_its_owner_only(
    harness: Harness, orders: ProductRegistry
) -> None:
    orders.record_checks("orders.daily_revenue", "run-1", [CheckResult("range_revenue", False)], refused_version=9)
    with pytest.raises(RegistryPermissionError):
        harness.registry_for("shipping").discard_candidate("orders.daily_revenue", 9)
    assert harness.service.refused_candidate(ADMIN, "orders.daily_revenue") is not None

    orders.discard_candidate("orders.daily_revenue", 8)  # not the one shown: nothing changes
    assert harness.service.refused_candidate(ADMIN, "orders.daily_revenue") is not None
    orders.discard_candidate("orders.daily_revenue", 9)
    orders.discard_candidate("orders.daily_revenue", 9)  # idempotent

    assert harness.service.refused_candidate(ADMIN, "orders.daily_revenue") is None
    assert harness.service.audit(ADMIN)[0].action == "candidate.discard"
    # a later build refused with the same version (Delta: staged on the same log version) shows again
    orders.record_checks("orders.daily_revenue", "run-2", [CheckResult("range_revenue", False)], refused_version=9)
    candidate = harness.service.refused_candidate(ADMIN, "orders.daily_revenue")
    assert candidate is not None and (candidate.version, candidate.run_id) == (9, "run-2")
    with pytest.raises(RegistryNotFoundError):
        orders.discard_candidate("orders.nothing", 9)


def test_every_write_is_audited(harness: Harness, orders: ProductRegistry) -> None:
    orders.register_version(version(7))
    orders.grant("orders.daily_revenue", "shipping")
    actions = [(e.principal, e.action) for e in harness.service.audit(ADMIN)]
    assert actions[:4] == [
        ("orders", "grant.create"),
        ("orders", "version.register"),
        ("orders", "product.create"),
        ("orders", "domain.create"),
    ]


def test_make_registry_picks_the_adapter(tmp_path: Path, server: tuple[FastAPI, str]) -> None:
    from pipelines.adapters.catalog import make_registry

    embedded = make_registry("orders", db_url=f"sqlite:///{tmp_path / 'c.db'}")
    assert isinstance(embedded, EmbeddedProductRegistry)
    embedded.close()
    remote = make_registry("orders", catalog_url=server[1], token="mlk_x")
    assert isinstance(remote, HttpProductRegistry)
    remote.close()
    with pytest.raises(ValueError, match="TOKEN"):
        make_registry("orders", catalog_url=server[1])
