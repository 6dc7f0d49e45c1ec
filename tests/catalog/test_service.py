"""The catalog service layer: rules, search, freshness, quality, tokens and the unit of work."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from catalog.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from catalog.model import (
    CheckResultIn,
    ChecksIn,
    DomainIn,
    Freshness,
    PrincipalKind,
    ProductSummary,
    Quality,
    Severity,
    VersionIn,
)
from catalog.service import CatalogService
from catalog.store.tables import AuditRow, VersionRow
from tests.catalog.conftest import ADMIN, ORDERS, READER, SHIPPING, Seeded, revenue

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def v(n: int, rows: int = 10, at: datetime | None = None) -> VersionIn:
    return VersionIn(version=n, row_count=rows, schema_hash="h1", run_id=f"run-{n}", materialized_at=at)


def names(products: Iterable[ProductSummary]) -> list[str]:
    return [p.name for p in products]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["orders.customers", "orders.daily_revenue", "shipping.deliveries"]),
        ({"text": "REVENUE"}, ["orders.daily_revenue"]),
        ({"text": "e-mail"}, ["orders.daily_revenue"]),  # a column's doc
        ({"text": "team-ship"}, ["shipping.deliveries"]),  # owner
        ({"domain_name": "orders"}, ["orders.customers", "orders.daily_revenue"]),
        ({"tag": "crm"}, ["orders.customers"]),
        ({"owner": "team-orders"}, ["orders.customers", "orders.daily_revenue"]),
        ({"column": "customer"}, ["orders.customers", "orders.daily_revenue"]),
        ({"column": "country", "tag": "finance"}, ["orders.daily_revenue"]),
        ({"text": "100%_"}, []),  # LIKE wildcards are literal
    ],
)
def test_search(seeded: Seeded, filters: dict[str, str], expected: list[str]) -> None:
    assert names(seeded.service.list_products(ADMIN, **filters)) == expected


def test_listing_shows_only_readable_products(seeded: Seeded) -> None:
    svc = seeded.service
    assert names(svc.list_products(READER)) == ["orders.customers"]
    assert names(svc.list_products(SHIPPING)) == ["orders.customers", "shipping.deliveries"]
    svc.grant(ORDERS, "orders.daily_revenue", "analyst")
    assert names(svc.list_products(READER)) == ["orders.customers", "orders.daily_revenue"]
    with pytest.raises(Forbidden, match="no grant"):
        svc.get_product(SHIPPING, "orders.daily_revenue")
    # lineage: the owning domain sees every consumer, others only the consumers they may read
    assert svc.get_product(ORDERS, "orders.daily_revenue").downstream == ["shipping.deliveries"]
    assert svc.get_product(READER, "orders.daily_revenue").downstream == []


def test_only_the_owning_domain_writes(seeded: Seeded) -> None:
    svc = seeded.service
    with pytest.raises(Forbidden, match="only domain 'orders'"):
        svc.put_product(SHIPPING, "orders.daily_revenue", revenue())
    with pytest.raises(Forbidden):
        svc.register_version(SHIPPING, "orders.customers", v(1))  # readable (public) but not writable
    with pytest.raises(Forbidden):
        svc.grant(READER, "orders.customers", "analyst")
    with pytest.raises(Forbidden):
        svc.put_domain(READER, "analyst", DomainIn(owner="me"))
    with pytest.raises(Forbidden):
        svc.audit(READER)
    assert svc.put_domain(ORDERS, "orders", DomainIn(owner="team-orders-2"))[1] is False


def test_version_registration_is_idempotent_and_numbered(seeded: Seeded) -> None:
    svc = seeded.service
    assert svc.register_version(ORDERS, "orders.daily_revenue", v(100))[1] is True
    audit_before = len(svc.audit(ADMIN, limit=500))
    again, created = svc.register_version(ORDERS, "orders.daily_revenue", v(100))
    assert (created, again.seq) == (False, 1)
    assert len(svc.audit(ADMIN, limit=500)) == audit_before
    with pytest.raises(Conflict, match="schema_hash"):
        svc.register_version(ORDERS, "orders.daily_revenue", v(100).model_copy(update={"schema_hash": "h2"}))
    second, _ = svc.register_version(ORDERS, "orders.daily_revenue", v(7))
    assert second.seq == 2 and svc.get_product(ADMIN, "orders.daily_revenue").version_count == 2


def test_freshness_follows_sla_and_latest_version(db_url: str) -> None:
    now = [T0]
    svc = CatalogService.open(db_url)
    svc._clock = lambda: now[0]  # a controllable clock
    svc.put_domain(ORDERS, "orders", DomainIn(owner="team-orders"))
    svc.put_product(ORDERS, "orders.daily_revenue", revenue(freshness_sla_minutes=60))
    assert svc.get_product(ORDERS, "orders.daily_revenue").freshness == Freshness.UNKNOWN
    svc.register_version(ORDERS, "orders.daily_revenue", v(1, at=T0))
    now[0] = T0 + timedelta(minutes=59)
    assert svc.get_product(ORDERS, "orders.daily_revenue").freshness == Freshness.FRESH
    now[0] = T0 + timedelta(minutes=61)
    assert svc.list_products(ORDERS)[0].freshness == Freshness.STALE
    svc.put_product(ORDERS, "orders.daily_revenue", revenue(freshness_sla_minutes=None))
    assert svc.get_product(ORDERS, "orders.daily_revenue").freshness == Freshness.UNKNOWN
    svc.close()


def test_quality_uses_the_latest_result_of_each_check(seeded: Seeded) -> None:
    svc = seeded.service
    name = "orders.daily_revenue"
    assert svc.get_product(ORDERS, name).quality == Quality.UNKNOWN
    failing = CheckResultIn(check="not_null", passed=False, message="3 nulls")
    svc.record_checks(ORDERS, name, ChecksIn(run_id="r1", results=[failing]))
    assert svc.get_product(ORDERS, name).quality == Quality.FAILING
    ok = CheckResultIn(check="not_null", passed=True)
    warn = CheckResultIn(check="row_count", passed=False, severity=Severity.WARN)
    latest = svc.record_checks(ORDERS, name, ChecksIn(run_id="r2", results=[ok, warn]))
    assert [(c.check, c.passed) for c in latest] == [("not_null", True), ("row_count", False)]
    assert svc.list_products(ORDERS, text="daily")[0].quality == Quality.WARNING


def test_tokens_are_stored_hashed_and_revocable(seeded: Seeded) -> None:
    svc = seeded.service
    token = seeded.tokens["orders"]
    assert svc.authenticate(token) == ORDERS
    with svc.engine.connect() as conn:
        sqlite = conn.connection.driver_connection
        assert sqlite is not None
        dump = "\n".join(sqlite.iterdump())  # the whole database as SQL
    assert token not in dump and token[4:] not in dump
    (info,) = [t for t in svc.list_tokens() if t.principal == "orders"]
    svc.revoke_token(info.id)
    with pytest.raises(Unauthenticated):
        svc.authenticate(token)
    with pytest.raises(Unauthenticated):
        svc.authenticate("")
    with pytest.raises(InvalidInput, match="principal"):
        svc.create_token("Not Valid", PrincipalKind.DOMAIN)


def test_a_failure_inside_a_use_case_writes_nothing(seeded: Seeded) -> None:
    svc = seeded.service
    calls = {"n": 0}

    def clock_that_fails_on_the_audit_entry() -> datetime:
        calls["n"] += 1
        if calls["n"] == 2:  # 1: registered_at, 2: the audit entry, after the version row was added
            raise RuntimeError("disk full")
        return T0

    svc._clock = clock_that_fails_on_the_audit_entry
    with pytest.raises(RuntimeError):
        svc.register_version(ORDERS, "orders.daily_revenue", v(1))
    with svc.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(VersionRow)) == 0
        assert conn.scalar(text("select version_count from products where name='orders.daily_revenue'")) == 0
        assert conn.scalar(select(func.count()).where(AuditRow.action == "version.register")) == 0


def test_domain_teams_see_their_own_audit_entries(seeded: Seeded) -> None:
    svc = seeded.service
    svc.grant(ORDERS, "orders.daily_revenue", "shipping")
    svc.revoke(ORDERS, "orders.daily_revenue", "shipping")
    with pytest.raises(NotFound, match="no grant"):
        svc.revoke(ORDERS, "orders.daily_revenue", "shipping")
    entries = svc.audit(SHIPPING)
    assert {e.subject for e in entries} == {"shipping", "shipping.deliveries"}
    actions = [(e.principal, e.action, e.detail.get("consumer")) for e in svc.audit(ORDERS, limit=2)]
    assert actions == [("orders", "grant.revoke", "shipping"), ("orders", "grant.create", "shipping")]


def test_product_updates_record_what_changed(seeded: Seeded) -> None:
    svc = seeded.service
    svc.put_product(ORDERS, "orders.daily_revenue", revenue(tags=["finance"], description="Daily revenue"))
    (entry,) = svc.audit(ORDERS, limit=1)
    assert entry.action == "product.update" and entry.detail["changed"] == ["description", "tags"]
    with pytest.raises(InvalidInput, match="upstream"):
        svc.put_product(ORDERS, "orders.daily_revenue", revenue(upstream=["orders.daily_revenue"]))
    with pytest.raises(NotFound, match="domain 'billing'"):
        svc.put_product(ADMIN, "billing.invoices", revenue())


def test_materialisation_times_are_compared_in_utc(seeded: Seeded) -> None:
    svc = seeded.service
    plus_two = timezone(timedelta(hours=2))
    svc.register_version(ORDERS, "orders.daily_revenue", v(1, at=datetime(2026, 1, 1, 11, 0, tzinfo=plus_two)))
    svc.register_version(ORDERS, "orders.daily_revenue", v(2, at=datetime(2026, 1, 1, 9, 30)))  # naive = UTC
    versions = svc.list_versions(ORDERS, "orders.daily_revenue")
    assert [(x.version, x.materialized_at.hour) for x in versions] == [(2, 9), (1, 9)]
