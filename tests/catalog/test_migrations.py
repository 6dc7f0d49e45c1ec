"""Versioned schema migrations: an older catalog database is upgraded on start, keeping its data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from catalog.model import CheckResultIn, ChecksIn, Quality
from catalog.service import CatalogService
from catalog.store import current_revision, head_revision, make_engine, upgrade
from catalog.store.engine import downgrade
from catalog.store.tables import Base
from tests.catalog.conftest import ORDERS

NOW = datetime(2026, 1, 1, tzinfo=UTC).isoformat()


def test_head_matches_the_tables_the_code_uses(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    assert current_revision(engine) == head_revision() == "0004"
    engine.dispose()


def test_service_upgrades_an_older_database_on_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0001")  # a catalog written by the first release: no check results yet
    with engine.begin() as conn:
        conn.execute(
            text("insert into domains (name, owner, contact, created_at, updated_at) values (:n, :o, null, :t, :t)"),
            {"n": "orders", "o": "team-orders", "t": NOW},
        )
        conn.execute(
            text(
                "insert into products (domain_id, name, description, owner, table_format, location, schema_hash,"
                " contract_version, freshness_sla_minutes, status, public, version_count, created_at, updated_at)"
                " values (1, 'orders.daily_revenue', 'Revenue', 'team-orders', 'iceberg', '', 'h', '1.0.0',"
                " 60, 'active', 0, 0, :t, :t)"
            ),
            {"t": NOW},
        )
    assert current_revision(engine) == "0001"
    engine.dispose()

    service = CatalogService.open(url)
    assert current_revision(service.engine) == head_revision()
    product = service.get_product(ORDERS, "orders.daily_revenue")
    assert (product.description, product.owner, product.quality) == ("Revenue", "team-orders", Quality.UNKNOWN)
    checks = ChecksIn(results=[CheckResultIn(check="not_null", passed=True)])
    service.record_checks(ORDERS, "orders.daily_revenue", checks)  # the table 0002 added works
    assert service.get_product(ORDERS, "orders.daily_revenue").quality == Quality.PASSING
    service.close()


def test_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    downgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    downgrade(engine, "base")
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == "0004"
    engine.dispose()
