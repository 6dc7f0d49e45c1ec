"""The production profile on object storage: PostgreSQL for the Iceberg catalog, the product catalog and
Dagster's storage, SeaweedFS for the warehouse and the landing zone, the catalog service answering queries.

Three domains are materialised by Dagster from landing files on S3, their products queried (DuckDB,
Polars, `POST /api/query`), maintenance run; nothing but the SQLite-free settings touches the local home.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from catalog.api import create_app
from catalog.model import PrincipalKind
from catalog.service import CatalogService
from catalog.testing import serve_in_thread
from pipelines.adapters.seaweedfs import SeaweedServer
from pipelines.bootstrap import Runtime
from pipelines.cli.demo_cmd import MESH_SQL
from pipelines.dagster.resources import MeshlakeResource
from pipelines.definitions import build_definitions
from pipelines.generation import generate_landing
from pipelines.services.maintenance import maintain_domain
from pipelines.serving import Serving
from pipelines.serving.http import query_router
from pipelines.settings import Settings
from tests import oracle
from tests.dagster.test_three_domains_end_to_end import materialize_all
from tests.paths import MESH as PROJECT_DIR

DOMAINS = ("orders", "payments", "shipping")


@pytest.fixture
def databases(pg_server: str) -> Iterator[dict[str, str]]:
    """Fresh databases `dagster`, `iceberg` and `catalog` on the server, as psycopg2 URLs."""
    suffix = uuid.uuid4().hex[:10]
    names = {k: f"meshlake_{k}_{suffix}" for k in ("dagster", "iceberg", "catalog")}
    server = make_url(pg_server).set(drivername="postgresql+psycopg2")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names.values():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield {k: server.set(database=v).render_as_string(hide_password=False) for k, v in names.items()}
    with admin.connect() as conn:
        for name in names.values():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_three_domains_on_s3_with_postgres_catalogs(
    tmp_path: Path, databases: dict[str, str], s3_server: SeaweedServer, s3_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, dagster_home = tmp_path / "home", tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copyfile(PROJECT_DIR / "dagster.postgres.yaml", dagster_home / "dagster.yaml")
    env = {
        "MESHLAKE_HOME": str(home),
        "MESHLAKE_WAREHOUSE": f"{s3_prefix}/warehouse",
        "MESHLAKE_LANDING": f"{s3_prefix}/landing",
        "MESHLAKE_S3_ENDPOINT": s3_server.endpoint,
        "MESHLAKE_S3_ACCESS_KEY_ID": s3_server.access_key,
        "MESHLAKE_S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "MESHLAKE_ICEBERG_CATALOG_URI": databases["iceberg"],
        "MESHLAKE_CATALOG_DB": databases["catalog"],
        "MESHLAKE_DAGSTER_POSTGRES_URL": databases["dagster"],
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the resource loads its settings in the step, as a deployment would
    runtime = Runtime(Settings.load())
    for domain in DOMAINS:
        generate_landing(runtime, domain, 800, seed=3, files=2)
    assert all(f.uri.startswith(s3_prefix) for f in runtime.landing.files("orders", "order_placed"))

    defs = build_definitions()
    resource = MeshlakeResource()
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        materialize_all(defs, resource, instance)

    serving = Serving(Runtime(Settings.load()))
    mesh = serving.query(MESH_SQL).table.to_pylist()
    assert oracle.mesh_rows(mesh) == oracle.mesh_answer(runtime)  # from the landed events on S3, as ingested
    facts = serving.scan("orders.order_facts").collect()
    expected_facts = {order_id: (row[3], row[4]) for order_id, row in oracle.order_facts(runtime).items()}
    assert {r["order_id"]: (r["total"], r["status"]) for r in facts.iter_rows(named=True)} == expected_facts
    for domain in DOMAINS:
        results = maintain_domain(runtime.domain(domain), runtime)
        assert results
    assert serving.query("SELECT count(*) AS n FROM orders.order_facts").table.to_pylist() == [{"n": facts.height}]

    service = CatalogService.open(databases["catalog"])
    try:
        app = create_app(service)
        app.include_router(query_router(lambda: Serving(Runtime(Settings.load()))))
        token = service.create_token("orders", PrincipalKind.DOMAIN, actor="test")
        with serve_in_thread(app) as url:
            response = httpx.post(
                f"{url}/api/query",
                json={"sql": "SELECT count(*) AS n FROM orders.order_facts"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            product = httpx.get(
                f"{url}/api/products/orders.order_facts", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
    finally:
        service.close()
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == [{"n": facts.height}]
    assert product.status_code == 200, product.text
    assert product.json()["location"].startswith(f"{s3_prefix}/warehouse/")

    assert [p for p in home.rglob("*") if p.is_file()] == []  # tables, landing, catalogs: none on this disk
