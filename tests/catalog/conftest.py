"""Fixtures of the catalog tests: a migrated SQLite catalog per test, tokens, sample products, a live server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from catalog.api import create_app
from catalog.model import Column, DomainIn, Principal, PrincipalKind, ProductIn
from catalog.service import CatalogService
from catalog.store import make_engine, upgrade
from catalog.testing import serve_in_thread

ADMIN = Principal(name="admin", kind=PrincipalKind.ADMIN)
ORDERS = Principal(name="orders", kind=PrincipalKind.DOMAIN)
SHIPPING = Principal(name="shipping", kind=PrincipalKind.DOMAIN)
READER = Principal(name="analyst", kind=PrincipalKind.READER)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A catalog database migrated once; each test gets a copy (Alembic runs take ~0.2 s)."""
    path = tmp_path_factory.mktemp("template") / "catalog.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return str(path)


@pytest.fixture
def db_url(tmp_path: Path, template_db: str) -> str:
    target = tmp_path / "catalog.db"
    shutil.copyfile(template_db, target)
    return f"sqlite:///{target}"


@pytest.fixture
def service(db_url: str) -> Iterator[CatalogService]:
    svc = CatalogService.open(db_url)
    yield svc
    svc.close()


def revenue(**changes: Any) -> ProductIn:
    """The sample product spec `orders.daily_revenue`."""
    fields: dict[str, Any] = {
        "description": "Revenue, orders and distinct customers by day",
        "tags": ["finance", "revenue"],
        "table_format": "iceberg",
        "location": "file:///lake/orders/daily_revenue",
        "columns": [
            Column(name="day", type="date32", doc="UTC day", nullable=False),
            Column(name="country", type="string", doc="ISO 3166 country code"),
            Column(name="revenue", type="decimal128(18, 2)", doc="Sum of order totals"),
            Column(name="customer_email", type="string", doc="Top customer's e-mail", pii=True),
        ],
        "freshness_sla_minutes": 120,
        "upstream": ["orders.customers"],
    }
    return ProductIn(**{**fields, **changes})


@dataclass
class Seeded:
    service: CatalogService
    tokens: dict[str, str]


@pytest.fixture
def seeded(service: CatalogService) -> Seeded:
    """Domains orders and shipping; orders.daily_revenue (private) and orders.customers (public)."""
    service.put_domain(ADMIN, "orders", DomainIn(owner="team-orders", contact="orders@example.com"))
    service.put_domain(ADMIN, "shipping", DomainIn(owner="team-shipping"))
    service.put_product(ORDERS, "orders.daily_revenue", revenue())
    customers = ProductIn(
        description="Customers who ordered",
        tags=["crm"],
        columns=[Column(name="customer_id", type="int64", nullable=False)],
        public=True,
        freshness_sla_minutes=60,
    )
    service.put_product(ORDERS, "orders.customers", customers)
    service.put_product(
        SHIPPING,
        "shipping.deliveries",
        ProductIn(description="Deliveries per order", upstream=["orders.daily_revenue"]),
    )
    tokens = {p.name: service.create_token(p.name, p.kind, actor="test") for p in (ADMIN, ORDERS, SHIPPING, READER)}
    return Seeded(service, tokens)


@pytest.fixture(scope="session")
def server(template_db: str) -> Iterator[tuple[FastAPI, str]]:
    """One real uvicorn server for the session; each test points it at its own catalog."""
    placeholder = CatalogService.open(f"sqlite:///{template_db}", migrate=False)
    app = create_app(placeholder)
    with serve_in_thread(app) as url:
        yield app, url
    placeholder.close()


@pytest.fixture
def live(server: tuple[FastAPI, str], seeded: Seeded) -> str:
    """Base URL of a real uvicorn server on the seeded catalog."""
    app, url = server
    app.state.service = seeded.service
    return url
