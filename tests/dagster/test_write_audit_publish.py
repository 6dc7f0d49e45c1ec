"""Write-audit-publish: a gold build that breaks an error check leaves every reader on the published version.

Real Dagster runs of a fixture project (`tests/wap_project.py`) in each table format; the readers are
the store, `meshlake.connect`, `scan` and `query`, `meshlake query`, `POST /api/query`, DuckDB on the
table's files, the Iceberg REST catalog (pyiceberg through the catalog service), and the catalog.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest
from pyiceberg.catalog.rest import RestCatalog
from typer.testing import CliRunner, Result

import meshlake
from catalog.api import create_app
from catalog.model import Principal, PrincipalKind
from catalog.service import CatalogService
from catalog.testing import serve_in_thread
from pipelines.adapters.duckdb.extensions import load_extension
from pipelines.bootstrap import Runtime
from pipelines.cli.main import app
from pipelines.core.names import Layer, TableId
from pipelines.dagster.code_location import build_definitions
from pipelines.dagster.resources import MeshlakeResource
from pipelines.services.wap import write_audit_publish
from pipelines.serving import Serving
from pipelines.serving.http import query_router
from pipelines.settings import Settings
from tests.paths import REPO
from tests.wap_project import GOLD, TOTAL, land, make_ledger, materialize

TABLE = TableId("ledger", "balances")
ADMIN = Principal(name="admin", kind=PrincipalKind.ADMIN)


def _duckdb_rows(runtime: Runtime) -> list[tuple[str, int]]:
    """The product as DuckDB reads the table's own files (`iceberg_scan` / `delta_scan`)."""
    store = runtime.store_for("ledger", Layer.GOLD, "balances")
    scan = "iceberg_scan" if store.format.value == "iceberg" else "delta_scan"
    con = duckdb.connect()
    load_extension(con, store.format.value)
    return con.sql(f"SELECT item_id, amount FROM {scan}('{store.location(TABLE)}') ORDER BY item_id").fetchall()


@contextmanager
def _query_api(runtime: Runtime) -> Iterator[Callable[[str], list[tuple[str, int]]]]:
    """`POST /api/query` served by the catalog app on a free port, asked as the ledger domain."""
    service = CatalogService.open(runtime.settings.catalog_db_url)
    token = service.create_token("ledger", PrincipalKind.DOMAIN, actor="test")
    app = create_app(service)
    app.include_router(query_router(Serving(runtime)))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:

        def ask(sql: str) -> list[tuple[str, int]]:
            response = client.post("/api/query", json={"sql": sql}, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            return [(row["item_id"], row["amount"]) for row in response.json()["rows"]]

        yield ask
    service.close()


def _readers(runtime: Runtime, api: Callable[[str], list[tuple[str, int]]]) -> dict[str, list[tuple[str, int]]]:
    """What each reader sees of ledger.balances."""
    settings = runtime.settings
    store = runtime.store_for("ledger", Layer.GOLD, "balances")
    sql = "SELECT item_id, amount FROM ledger.balances ORDER BY item_id"
    cli = CliRunner().invoke(app, ["--project", str(settings.project_dir), "query", sql, "--format", "csv"],
                             env={"MESHLAKE_HOME": str(settings.home)})  # fmt: skip
    assert cli.exit_code == 0, cli.output
    scan = meshlake.scan("ledger.balances", settings=settings).select("item_id", "amount")
    return {
        "store": sorted((r["item_id"], r["amount"]) for r in store.read(TABLE).to_pylist()),
        "connect": meshlake.connect(settings=settings).sql(sql).fetchall(),
        "scan": sorted(scan.collect().rows()),
        "query": [tuple(r.values()) for r in meshlake.query(sql, settings=settings).table.to_pylist()],
        "cli": [(i, int(a)) for i, a in (line.split(",") for line in cli.output.split()[1:])],
        "duckdb": _duckdb_rows(runtime),
        "api": api(sql),
    }


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations() if e.asset_key == GOLD}


def _rest_rows(serve_iceberg_rest: Callable[[Path], dict[str, str]], runtime: Runtime) -> list[tuple[str, int]]:
    """The product as any engine reads it through the catalog service's Iceberg REST API (pyiceberg here)."""
    rest = RestCatalog("meshlake", **serve_iceberg_rest(runtime.settings.iceberg_dir))
    rows = rest.load_table(("ledger", "balances")).scan(selected_fields=("item_id", "amount")).to_arrow()
    return sorted((r["item_id"], r["amount"]) for r in rows.to_pylist())


def _candidates_cli(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(app, ["--project", str(settings.project_dir), "candidates", *args],
                              env={"MESHLAKE_HOME": str(settings.home)})  # fmt: skip


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_build_breaking_an_error_check_leaves_every_reader_on_the_published_version(
    tmp_path: Path, fmt: str, request: pytest.FixtureRequest
) -> None:
    stack = ExitStack()
    request.addfinalizer(stack.close)
    settings = make_ledger(tmp_path / "team", fmt)
    runtime = Runtime(settings)
    instance = dg.DagsterInstance.ephemeral()
    land(runtime, {"a": 10, "b": 20, "c": 30})
    assert materialize(settings, instance).success
    api = stack.enter_context(_query_api(runtime))
    before = _readers(runtime, api)
    assert set(map(tuple, before.values())) == {(("a", 10), ("b", 20), ("c", 30))}, before
    store = runtime.store_for("ledger", Layer.GOLD, "balances")
    published = store.history(TABLE)

    land(runtime, {"b": -5})  # breaks `amount >= 0`, an error check
    refused = materialize(settings, instance)

    assert not refused.success and _checks(refused)["range_amount"] is False
    assert TOTAL not in {e.asset_key for e in refused.get_asset_materialization_events()}  # blocked downstream
    downstream = write_audit_publish(runtime.domain("ledger"), "total", runtime, "by-hand")  # built anyway
    assert runtime.store_for("ledger", Layer.GOLD, "total").read(downstream.build.table).to_pylist() == [
        {"amount": 60}  # from the published balances, not the refused candidate's 55
    ]
    assert _readers(runtime, api) == before
    if fmt == "iceberg":
        assert _rest_rows(request.getfixturevalue("serve_iceberg_rest"), runtime) == before["store"]
    assert store.history(TABLE) == published
    candidates = runtime.candidates(store)
    kept = candidates.kept(TABLE)
    assert kept is not None and kept.failing == ("range_amount",) and kept.base == published[-1].version
    assert {"item_id": "b", "amount": -5} in candidates.read_candidate(TABLE, kept.commit.version).to_pylist()
    with pytest.raises(ValueError, match="has no version"):  # time travel reaches published versions only
        meshlake.scan("ledger.balances", as_of=kept.commit.version, settings=settings).collect()
    listed = _candidates_cli(settings, "--domain", "ledger", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(c["product"], c["candidate"], c["published"], c["failing"]) for c in json.loads(listed.output)] == [
        ("ledger.balances", kept.commit.version, published[-1].version, ["range_amount"])
    ]
    service = CatalogService.open(settings.catalog_db_url)
    assert [v.version for v in service.list_versions(ADMIN, "ledger.balances")] == [published[-1].version]
    check = next(c for c in service.get_product(ADMIN, "ledger.balances").checks if c.check == "range_amount")
    assert not check.passed and f"refused version {kept.commit.version}" in check.message
    shown = service.refused_candidate(ADMIN, "ledger.balances")
    assert shown is not None and (shown.version, shown.failing) == (kept.commit.version, ["range_amount"])

    land(runtime, {"b": 25, "d": 5000})  # fixed; `d` only breaks a warn check
    fixed = materialize(settings, instance)

    assert fixed.success
    assert _checks(fixed) == {"key_not_null": True, "key_unique": True, "range_amount": True,
                              "amount_within_limit": False}  # fmt: skip
    after = _readers(runtime, api)
    assert set(map(tuple, after.values())) == {(("a", 10), ("b", 25), ("c", 30), ("d", 5000))}, after
    history = store.history(TABLE)
    assert history[:-1] == published and len(history) == len(published) + 1
    assert candidates.kept(TABLE) is None
    assert json.loads(_candidates_cli(settings, "--json").output) == []
    assert service.refused_candidate(ADMIN, "ledger.balances") is None
    versions = {v.version for v in service.list_versions(ADMIN, "ledger.balances")}
    assert versions == {published[-1].version, history[-1].version}
    warned = next(c for c in service.get_product(ADMIN, "ledger.balances").checks if c.check == "amount_within_limit")
    assert not warned.passed and warned.severity == "warn"


def _step_lines(instance: dg.DagsterInstance, run_id: str, *words: str) -> list[str]:
    """The run's log lines (not its structured events) holding every one of `words`."""
    lines = [e.user_message for e in instance.all_logs(run_id) if e.dagster_event is None]
    return [line for line in lines if all(word in line for word in words)]


def test_a_refused_build_records_no_materialisation_and_fails_its_run_naming_the_check_logged_once(
    tmp_path: Path,
) -> None:
    settings = make_ledger(tmp_path / "team", "iceberg")
    runtime = Runtime(settings)
    instance = dg.DagsterInstance.ephemeral()
    land(runtime, {"a": 10})
    published = materialize(settings, instance)
    assert published.success
    latest = instance.get_latest_materialization_event(GOLD)
    assert latest is not None and latest.run_id == published.run_id

    land(runtime, {"a": -5})
    refused = materialize(settings, instance)

    assert not refused.success
    assert GOLD not in {e.asset_key for e in refused.get_asset_materialization_events()}
    latest = instance.get_latest_materialization_event(GOLD)
    assert latest is not None and latest.run_id == published.run_id  # freshness stays honest
    assert _checks(refused) == {"key_not_null": True, "key_unique": True, "range_amount": False,
                                "amount_within_limit": True}  # fmt: skip
    kept = runtime.candidates(runtime.store_for("ledger", Layer.GOLD, "balances")).kept(TABLE)
    assert kept is not None
    gold_checks = [e for e in refused.get_asset_check_evaluations() if e.asset_key == GOLD]
    shown = {e.check_name: e.metadata["refused_candidate"].value for e in gold_checks}
    assert set(shown.values()) == {kept.commit.version}  # beside the published materialisation, named as refused
    [failure] = [e for e in refused.get_step_failure_events() if e.step_key == "ledger__gold__balances"]
    error = failure.step_failure_data.error
    assert error is not None
    assert "refused version" in error.message
    assert "failing checks range_amount" in error.message
    [line] = _step_lines(instance, published.run_id, "publish", "ledger.balances")  # the publish logs once
    assert line.startswith(f"publish {TABLE} version ") and "asset=ledger/gold/balances" in line
    [line] = _step_lines(instance, refused.run_id, "refus", "ledger.balances")
    assert line.startswith(f"refusal {TABLE} version ") and "failing=('range_amount',)" in line


def test_maintenance_discarding_a_refused_candidate_takes_it_off_the_catalog(tmp_path: Path) -> None:
    """The Dagster maintenance job tells the catalog (each format's expiry reporting it: tests/contract)."""
    settings = make_ledger(tmp_path / "team", "delta", "maintenance: {retention_hours: 0, orphan_age_hours: 0}\n")
    runtime = Runtime(settings)
    instance = dg.DagsterInstance.ephemeral()
    land(runtime, {"a": 10})
    assert materialize(settings, instance).success
    land(runtime, {"a": -5})
    assert not materialize(settings, instance).success
    service = CatalogService.open(settings.catalog_db_url)
    shown = service.refused_candidate(ADMIN, "ledger.balances")
    assert shown is not None

    job = build_definitions(settings).get_job_def("ledger_maintenance")
    resource = MeshlakeResource(project=str(settings.project_dir), home=str(settings.home))
    assert job.execute_in_process(instance=instance, resources={"meshlake": resource}).success

    assert runtime.candidates(runtime.store_for("ledger", Layer.GOLD, "balances")).kept(TABLE) is None
    assert json.loads(_candidates_cli(settings, "--json").output) == []
    assert service.refused_candidate(ADMIN, "ledger.balances") is None
    assert service.audit(ADMIN)[0].action == "candidate.discard"
    sql = "SELECT detail FROM ledger.event_log WHERE kind = 'maintenance' AND table_name = 'ledger.balances'"
    [maintained] = meshlake.query(sql, settings=settings).table.to_pylist()
    assert json.loads(maintained["detail"])["candidate_discarded"] == shown.version
    service.close()


def test_a_rerun_on_data_still_breaking_the_contract_is_refused_again(tmp_path: Path) -> None:
    settings = make_ledger(tmp_path / "team", "iceberg")
    runtime = Runtime(settings)
    instance = dg.DagsterInstance.ephemeral()
    land(runtime, {"a": 1})
    assert materialize(settings, instance).success
    land(runtime, {"a": -1})
    materialize(settings, instance)

    audited = write_audit_publish(runtime.domain("ledger"), "balances", runtime, "run-again")

    assert not audited.publication.published
    assert audited.publication.message == (
        f"ledger.balances: refused version {audited.publication.candidate}: failing checks range_amount"
    )
    store = runtime.store_for("ledger", Layer.GOLD, "balances")
    assert store.read(TABLE).to_pylist() == [{"item_id": "a", "amount": 1}]
    kept = runtime.candidates(store).kept(TABLE)
    assert kept is not None and kept.commit.version == audited.publication.candidate


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_run_killed_between_audit_and_publish_leaves_the_old_version_and_a_rerun_publishes_once(
    tmp_path: Path, fmt: str, request: pytest.FixtureRequest
) -> None:
    stack = ExitStack()
    request.addfinalizer(stack.close)
    settings = make_ledger(tmp_path / "team", fmt)
    runtime = Runtime(settings)
    instance = dg.DagsterInstance.ephemeral()
    land(runtime, {"a": 10, "b": 20})
    assert materialize(settings, instance).success
    api = stack.enter_context(_query_api(runtime))
    before = _readers(runtime, api)
    store = runtime.store_for("ledger", Layer.GOLD, "balances")
    published = store.history(TABLE)
    land(runtime, {"b": 21})

    killed = subprocess.run(
        [sys.executable, "-m", "tests.dagster.wap_killed", str(settings.project_dir), str(settings.home)],
        cwd=REPO, capture_output=True, timeout=300,
    )  # fmt: skip

    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert _readers(runtime, api) == before
    assert store.history(TABLE) == published
    rerun = materialize(settings, instance)
    assert rerun.success
    assert set(map(tuple, _readers(runtime, api).values())) == {(("a", 10), ("b", 21))}
    history = store.history(TABLE)
    assert history[:-1] == published and len(history) == len(published) + 1
    service = CatalogService.open(settings.catalog_db_url)
    versions = {v.version for v in service.list_versions(ADMIN, "ledger.balances")}
    assert versions == {published[-1].version, history[-1].version}


def test_candidates_names_an_unknown_domain_as_a_usage_error(tmp_path: Path) -> None:
    settings = make_ledger(tmp_path / "team", "iceberg")

    result = _candidates_cli(settings, "--domain", "nope")

    assert result.exit_code == 2
    assert "no domain 'nope' (known: ledger)" in result.output
