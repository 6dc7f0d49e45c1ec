"""The production profile behind the Iceberg REST API: the Iceberg catalog on PostgreSQL, the warehouse on S3.

The API is built the way `meshlake catalog serve` builds it (the `meshlake.catalog.routers` entry point,
reading the settings), over the catalog the pipelines' Iceberg store commits to.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.exceptions import CommitFailedException, ForbiddenError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from catalog.api import create_app
from catalog.testing import serve_in_thread
from pipelines.adapters.seaweedfs import SeaweedServer
from pipelines.bootstrap import Runtime
from pipelines.core.commits import TableFormat
from pipelines.core.names import TableId
from pipelines.serving.iceberg_rest import router_from_env
from pipelines.settings import Settings
from tests.catalog.conftest import Seeded
from tests.catalog.iceberg.conftest import SCHEMA, rows

REVENUE = TableId("orders", "daily_revenue")


@pytest.fixture
def iceberg_db(pg_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database for the Iceberg catalog."""
    name = f"iceberg_rest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(pg_server).set(drivername="postgresql+psycopg2", database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_rest_clients_commit_to_the_pipelines_postgres_catalog_on_s3(
    tmp_path: Path,
    iceberg_db: str,
    s3_server: SeaweedServer,
    s3_prefix: str,
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "MESHLAKE_HOME": str(tmp_path / "home"),
        "MESHLAKE_WAREHOUSE": f"{s3_prefix}/warehouse",
        "MESHLAKE_S3_ENDPOINT": s3_server.endpoint,
        "MESHLAKE_S3_ACCESS_KEY_ID": s3_server.access_key,
        "MESHLAKE_S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "MESHLAKE_ICEBERG_CATALOG_URI": iceberg_db,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the entry point's router reads the settings, as the service does
    store = Runtime(Settings.load(), domains=[]).store(TableFormat.ICEBERG)
    store.ensure_table(REVENUE, SCHEMA)
    store.append(REVENUE, rows(1, 2, 3))
    own_key = {"s3.access-key-id": s3_server.access_key, "s3.secret-access-key": s3_server.secret_key}

    with serve_in_thread(create_app(seeded.service, [router_from_env()])) as url:
        orders = RestCatalog("lake", uri=f"{url}/iceberg", token=seeded.tokens["orders"], **own_key)
        first, second = orders.load_table("orders.daily_revenue"), orders.load_table("orders.daily_revenue")
        assert first.location().startswith(f"{s3_prefix}/warehouse/iceberg/orders/")
        assert sorted(first.scan().to_arrow().column("id").to_pylist()) == [1, 2, 3]
        with second.transaction() as tx:
            tx.set_properties({"commit.retry.num-retries": "0"})
        first = orders.load_table("orders.daily_revenue")

        first.append(rows(4).cast(first.schema().as_arrow()))
        with pytest.raises(CommitFailedException):
            second.append(rows(5).cast(second.schema().as_arrow()))
        with pytest.raises(ForbiddenError, match=r"may not read orders\.daily_revenue"):
            RestCatalog("lake", uri=f"{url}/iceberg", token=seeded.tokens["shipping"]).load_table(
                "orders.daily_revenue"
            )

    assert sorted(store.read(REVENUE).column("id").to_pylist()) == [1, 2, 3, 4]
