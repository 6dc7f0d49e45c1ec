"""Every run leaves rows in its domain's event log (`<domain>.event_log`), queried like a product, in both formats;
`meshlake events` prints it and the catalog's product page charts it (in a real Chromium).

The ledger project (tests/projects/events) is materialised by Dagster three times: events with one
undecodable payload, then a refund that breaks the balances' error check, then a file that is not
protobuf (bronze fails).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pyarrow as pa
import pytest
from playwright import sync_api

from catalog.api import create_app
from catalog.model import PrincipalKind
from catalog.service import CatalogService
from catalog.testing import serve_in_thread
from pipelines.adapters.landing.writer import write_landing_file
from pipelines.bootstrap import Runtime
from pipelines.core.event_log import EVENT_LOG_SCHEMA
from pipelines.core.names import Layer
from pipelines.dagster.code_location import build_definitions
from pipelines.dagster.resources import MeshlakeResource
from pipelines.ports.query_engine import QueryPermissionError, QueryRefusedError
from pipelines.serving import Serving
from pipelines.serving.history_panel import ProductHistory
from pipelines.serving.http import query_router
from pipelines.serving.products import Access
from pipelines.settings import Settings
from tests.catalog.test_web import browser, page, sign_in  # noqa: F401 - the real Chromium fixtures

PROJECT = Path(__file__).parents[1] / "projects" / "events"
BIN = Path(sys.executable).parent
GOLD = "ledger/gold/balances"

Ledger = tuple[Settings, list[str]]


def _settings(home: Path, fmt: str) -> Settings:
    return Settings.load(project=PROJECT, env={"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt})


def _entries(runtime: Runtime, name: str, amounts: list[tuple[str, int]], extra: Sequence[bytes] = ()) -> None:
    message = runtime.contract("ledger", "entry_posted").message_class
    at = datetime.now(UTC) - timedelta(minutes=5)
    payloads = []
    for i, (account, amount) in enumerate(amounts):
        entry = message(entry_id=f"{name}-{i}", account_id=account, amount=amount)
        entry.posted_at.FromDatetime(at)
        payloads.append(entry.SerializeToString())
    write_landing_file(runtime.settings.landing_dir, "ledger", "entry_posted", name, [*payloads, *extra])


def _materialize(settings: Settings) -> dg.ExecuteInProcessResult:
    defs = build_definitions(settings)
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    assert settings.format is not None
    resource = MeshlakeResource(
        project=str(settings.project_dir), home=str(settings.home_dir), format=settings.format.value
    )
    return dg.materialize(
        assets,
        selection="group:ledger",
        resources={"meshlake": resource},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


@pytest.fixture(scope="module", params=["iceberg", "delta"])
def ledger(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """The ledger after three runs: (settings, [run ids])."""
    home = tmp_path_factory.mktemp(f"events-{request.param}") / "home"
    settings = _settings(home, request.param)
    runtime = Runtime(settings)
    runs = []
    _entries(runtime, "first", [("a", 500), ("b", 300), ("a", 200)], extra=[b"\x0a\xff\xff"])
    runs.append(_materialize(settings))
    _entries(runtime, "second", [("b", -900)])
    runs.append(_materialize(settings))
    (runtime.settings.landing_dir / "ledger" / "entry_posted" / "third.pb").write_bytes(b"\xff" * 40)
    runs.append(_materialize(settings))
    assert [r.success for r in runs] == [True, False, False]  # a failed blocking check fails the second
    return settings, [r.run_id for r in runs]


def _events(settings: Settings, sql: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = Serving(Runtime(settings)).query(sql).table.to_pylist()
    return rows


def test_each_step_logs_its_start_end_and_commits_with_counts(ledger: Ledger) -> None:
    settings, (first, *_) = ledger
    rows = _events(settings, f"SELECT * FROM ledger.event_log WHERE run_id = '{first}' ORDER BY happened_at")
    steps = {(r["asset"], r["kind"]) for r in rows if r["kind"].startswith("run_")}
    assets = {"ledger/bronze/entry_posted", "ledger/silver/entries", GOLD}
    assert steps == {(a, k) for a in assets for k in ("run_started", "run_finished")}
    commits = {r["table_name"]: r for r in rows if r["kind"] == "commit"}
    assert set(commits) == {
        "ledger.bronze_entry_posted",
        "ledger.quarantine",
        "ledger.silver_entries",
        "ledger.balances",
    }
    assert commits["ledger.bronze_entry_posted"]["rows_added"] == 3
    assert commits["ledger.quarantine"]["rows_added"] == 1
    assert commits["ledger.balances"]["rows"] == 2  # accounts a and b
    for commit in commits.values():
        assert commit["version"] is not None and commit["files_added"] >= 1, commit
        assert commit["duration_ms"] >= 0
    assert commits["ledger.bronze_entry_posted"]["bytes_added"] > 0
    finished = [r for r in rows if r["kind"] == "run_finished"]
    assert all(r["duration_ms"] >= 0 for r in finished)


def test_quarantine_publish_and_expectations_are_logged(ledger: Ledger) -> None:
    settings, (first, second, _) = ledger
    rows = _events(settings, "SELECT * FROM ledger.event_log ORDER BY happened_at")
    [quarantine] = [r for r in rows if r["kind"] == "quarantine"]
    assert quarantine["run_id"] == first and quarantine["rows_added"] == 1
    assert json.loads(quarantine["detail"])["reasons"] == {"decode": 1}
    outcome = {r["run_id"]: r for r in rows if r["kind"] in ("publish", "refusal")}
    assert (outcome[first]["kind"], outcome[first]["rows"]) == ("publish", 2)
    # the refund's candidate breaks an error check: refused where the format stages candidates, and then
    # readers still see the balances of the first run
    b = _events(settings, "SELECT balance FROM ledger.balances WHERE account_id = 'b'")[0]["balance"]
    if outcome[second]["kind"] == "refusal":
        assert json.loads(outcome[second]["detail"])["checks"] == ["range_balance"]
        assert "refused version" in outcome[second]["message"] and b == 300
        # the refusal fails the gold step in Dagster, and the event log says so: run_failed, not run_finished
        gold = [r for r in rows if r["run_id"] == second and r["asset"] == GOLD and r["kind"].startswith("run_")]
        assert [r["kind"] for r in gold] == ["run_started", "run_failed"]
        assert "refused version" in gold[1]["message"] and "range_balance" in gold[1]["message"]
    else:
        assert json.loads(outcome[second]["detail"])["failing"] == ["range_balance"] and b == -600
    checks = {(r["run_id"], r["check_name"]): r for r in rows if r["kind"] == "expectation"}
    assert {c for _, c in checks} == {
        "key_not_null",
        "key_unique",
        "not_null_account_id_balance",
        "range_balance",
        "row_count",
    }
    assert all(checks[first, c]["passed"] for _, c in checks)
    broken = checks[second, "range_balance"]  # b: 300 - 900
    assert (broken["passed"], broken["severity"], broken["observed"]) == (False, "error", 1.0)
    assert checks[second, "row_count"]["severity"] == "warn"


def test_a_failed_step_is_logged_with_why(ledger: Ledger) -> None:
    settings, (*_, third) = ledger
    rows = _events(settings, f"SELECT asset, kind, message FROM ledger.event_log WHERE run_id = '{third}'")
    failed = [r for r in rows if r["kind"] == "run_failed"]
    assert [r["asset"] for r in failed] == ["ledger/bronze/entry_posted"]
    assert "third.pb" in failed[0]["message"] and "not a varint length-delimited protobuf" in failed[0]["message"]


def test_the_event_log_is_in_the_domains_format_and_has_no_event_log(ledger: Ledger) -> None:
    settings, _ = ledger
    runtime = Runtime(settings)
    store = runtime.store_for("ledger", Layer.EVENT_LOG)
    table = runtime.domain("ledger").event_log_table()
    assert settings.format is not None
    assert store.format.value == settings.format.value
    assert store.schema(table).names == EVENT_LOG_SCHEMA.names
    logged = {r["table_name"] for r in _events(settings, "SELECT DISTINCT table_name FROM ledger.event_log")}
    assert "ledger.event_log" not in logged
    # an append per start, commit and end as it happens (the other events go with the next), none for its own
    rows = _events(settings, "SELECT kind FROM ledger.event_log")
    at_once = ("run_started", "commit", "run_finished", "run_failed")
    assert len(store.history(table)) == sum(r["kind"] in at_once for r in rows)


def test_only_the_owner_and_admins_may_query_it(ledger: Ledger) -> None:
    settings, _ = ledger
    serving = Serving(Runtime(settings))
    sql = "SELECT count(*) AS n FROM ledger.event_log"
    assert serving.query(sql, "ledger").table.to_pylist()[0]["n"] > 0
    admin = Access("root", frozenset(), kind="admin")
    assert serving.query(sql, access=admin).table.to_pylist()[0]["n"] > 0
    with pytest.raises((QueryPermissionError, QueryRefusedError), match="event log of domain 'ledger'"):
        serving.query(sql, "shipping")
    reader = Access("ledger", frozenset({"ledger.balances"}), kind="reader")  # a reader named like the domain
    with pytest.raises((QueryPermissionError, QueryRefusedError), match="event log"):
        serving.query(sql, access=reader)
    assert "ledger.event_log" not in {p.name for p in serving.products()}  # not a data product


def test_a_log_that_cannot_be_written_never_fails_the_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(tmp_path / "home", "iceberg")
    runtime = Runtime(settings)
    table = runtime.domain("ledger").event_log_table()
    runtime.store_for("ledger", Layer.EVENT_LOG).ensure_table(table, pa.schema([("something_else", pa.string())]))
    _entries(runtime, "only", [("a", 1)])
    with caplog.at_level(logging.WARNING, logger="pipelines.services.event_log"):
        result = _materialize(settings)
    assert result.success
    assert "could not write" in caplog.text and "ledger.event_log" in caplog.text
    gold = runtime.store_for("ledger", Layer.GOLD, "balances")
    assert gold.read(runtime.domain("ledger").product_table("balances")).num_rows == 1


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    assert settings.format is not None
    env = base | {
        "MESHLAKE_PROJECT": str(PROJECT),
        "MESHLAKE_HOME": str(settings.home_dir),
        "MESHLAKE_FORMAT": settings.format.value,
        "COLUMNS": "250",
    }
    return subprocess.run([str(BIN / "meshlake"), *args], env=env, capture_output=True, text=True, timeout=120)


def test_meshlake_events_prints_the_log_filtered(ledger: Ledger) -> None:
    settings, (_, second, _) = ledger
    checks = _cli(settings, "events", "--domain", "ledger", "--kind", "expectation", "--since", "1h")
    assert checks.returncode == 0, checks.stderr
    lines = [line for line in checks.stdout.splitlines() if "range_balance" in line]
    assert len(lines) == 2 and "FAILED, 1 failing rows" in lines[1] and second[:8] in lines[1]
    assert "run_started" not in checks.stdout and "commit" not in checks.stdout
    later = _cli(settings, "events", "--since", "2999-01-01")
    assert later.returncode == 0 and "no events matching" in later.stdout
    refused = _cli(settings, "events", "--domain", "ledger", "--principal", "shipping")
    assert refused.returncode == 1 and "principal 'shipping' may not read ledger.event_log" in refused.stderr
    own = _cli(settings, "events", "--principal", "ledger", "--kind", "run_failed")
    assert own.returncode == 0 and "run_failed" in own.stdout, own.stderr
    for bad, named in ((["--kind", "nope"], "nope"), (["--since", "yesterday"], "yesterday"), (["--domain", "x"], "x")):
        refused = _cli(settings, "events", *bad)
        assert refused.returncode == 2, refused
        assert named in refused.stderr and "Traceback" not in refused.stderr


def test_meshlake_query_reads_the_event_log(ledger: Ledger) -> None:
    settings, _ = ledger
    sql = "SELECT kind, count(*) AS n FROM ledger.event_log GROUP BY kind ORDER BY kind"
    answer = _cli(settings, "query", sql, "--format", "json")
    assert answer.returncode == 0, answer.stderr
    kinds = {row["kind"]: row["n"] for row in json.loads(answer.stdout)}
    assert (
        kinds["run_started"] == 7 and kinds["publish"] + kinds.get("refusal", 0) == 2 and kinds["run_failed"] == 2
    )  # the refusal, the bad file


def test_the_product_page_charts_its_history_from_the_event_log(ledger: Ledger, page: sync_api.Page) -> None:  # noqa: F811 - the fixture
    settings, (first, second, _) = ledger
    service = CatalogService.open(settings.catalog_db_url)
    token = service.create_token("ledger", PrincipalKind.DOMAIN, actor="test")
    app = create_app(service, panels=[ProductHistory(Runtime(settings))])
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    with serve_in_thread(app) as url:
        sign_in(page, url, token)
        page.goto(f"{url}/products/ledger.balances")
        published = _events(settings, "SELECT rows FROM ledger.event_log WHERE kind = 'publish' ORDER BY happened_at")
        points = page.locator("#history-rows svg circle")
        values = [points.nth(i).get_attribute("data-value") for i in range(points.count())]
        assert values == [str(r["rows"]) for r in published] and values
        box = page.locator("#history-rows svg").bounding_box()
        assert box is not None and box["width"] > 100  # drawn, not hidden
        bars = page.locator("#history-freshness svg rect")
        assert bars.count() == len(published)  # the gaps between versions, and the age of the last one now
        assert {bars.nth(i).get_attribute("data-over") for i in range(bars.count())} == {"false"}  # SLA: 1 h
        assert page.locator("#history-freshness line.limit").count() == 1
        cells = page.locator("#history-checks rect[data-check=range_balance]")
        assert [cells.nth(i).get_attribute("data-run") for i in range(2)] == [first, second]
        assert [cells.nth(i).get_attribute("data-passed") for i in range(2)] == ["true", "false"]
        title = cells.nth(1).locator("title").text_content()
        assert title is not None and "failed (error), 1 failing rows" in title
        label = page.locator("#history-checks svg").get_attribute("aria-label")
        assert label == "Checks per run (latest right): 5 checks over 2 runs, 1 failed"
    service.close()
    assert requested and all(u.startswith(url) for u in requested), requested  # nothing fetched from elsewhere


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_replay_and_maintenance_are_logged(tmp_path: Path, fmt: str) -> None:
    settings = _settings(tmp_path / "home", fmt)
    runtime = Runtime(settings)
    for name in ("one", "two"):  # two runs: two small files per table to compact
        _entries(runtime, name, [("a", 1)], extra=[b"\x0a\xff\xff"])
        assert _materialize(settings).success
    replay = _cli(settings, "quarantine", "replay", "--domain", "ledger")
    assert replay.returncode == 0 and "2 stay" in replay.stdout, replay.stdout + replay.stderr
    sql = "SELECT kind, run_id FROM ledger.event_log WHERE asset = 'ledger/quarantine/replay' ORDER BY happened_at"
    replayed = _events(settings, sql)
    assert [r["kind"] for r in replayed] == ["run_started", "run_finished"]
    assert replayed[0]["run_id"].startswith("replay-")
    job = build_definitions(settings).get_job_def("ledger_maintenance")
    resource = MeshlakeResource(project=str(PROJECT), home=str(settings.home_dir), format=fmt)
    run = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), resources={"meshlake": resource})
    assert run.success
    rows = _events(settings, f"SELECT * FROM ledger.event_log WHERE run_id = '{run.run_id}' ORDER BY happened_at")
    assert [r["kind"] for r in rows][:: len(rows) - 1] == ["run_started", "run_finished"]
    assert {r["asset"] for r in rows} == {"ledger/maintenance"}
    maintained = {r["table_name"]: json.loads(r["detail"]) for r in rows if r["kind"] == "maintenance"}
    assert set(maintained) >= {
        "ledger.bronze_entry_posted",
        "ledger.silver_entries",
        "ledger.balances",
        "ledger.event_log",
    }
    bronze = maintained["ledger.bronze_entry_posted"]
    assert (bronze["data_files_before"], bronze["data_files_after"]) == (2, 1)


def test_api_query_serves_the_event_log_to_its_domain_and_admins_only(ledger: Ledger) -> None:
    settings, _ = ledger
    service = CatalogService.open(settings.catalog_db_url)
    tokens = {
        who: service.create_token(who, kind, actor="test")
        for who, kind in (
            ("ledger", PrincipalKind.DOMAIN),
            ("root", PrincipalKind.ADMIN),
            ("other", PrincipalKind.DOMAIN),
        )
    }
    app = create_app(service, [query_router(Serving(Runtime(settings)))])
    body = {"sql": "SELECT count(*) AS n FROM ledger.event_log WHERE kind = 'run_started'"}
    with serve_in_thread(app) as url:
        answers = {
            who: httpx.post(f"{url}/api/query", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)
            for who, token in tokens.items()
        }
    service.close()
    assert answers["ledger"].status_code == 200 and answers["ledger"].json()["rows"] == [{"n": 7}]
    assert answers["root"].status_code == 200 and answers["root"].json()["rows"] == [{"n": 7}]
    assert answers["other"].status_code == 403, answers["other"].text
    assert "event log of domain 'ledger'" in answers["other"].json()["detail"]


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_schema_evolution_is_logged_with_its_changes(tmp_path: Path, fmt: str) -> None:
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    settings = Settings.load(project=project, env={"MESHLAKE_HOME": str(tmp_path / "home"), "MESHLAKE_FORMAT": fmt})
    _entries(Runtime(settings), "before", [("a", 1)])
    assert _materialize(settings).success
    proto = project / "schemas" / "ledger" / "v1" / "ledger.proto"
    proto.write_text(proto.read_text().replace("  int64 amount = 4;\n", "  int64 amount = 4;\n  string memo = 5;\n"))
    evolved = Settings.load(project=project, env={"MESHLAKE_HOME": str(tmp_path / "home"), "MESHLAKE_FORMAT": fmt})
    _entries(Runtime(evolved), "after", [("a", 2)])
    run = _materialize(evolved)
    assert run.success
    sql = f"SELECT * FROM ledger.event_log WHERE kind = 'schema_evolution' AND run_id = '{run.run_id}'"
    [row] = _events(evolved, sql)
    assert (row["asset"], row["table_name"]) == ("ledger/bronze/entry_posted", "ledger.bronze_entry_posted")
    detail = json.loads(row["detail"])
    assert detail["schema_version_number"] == 2 and any("memo" in change for change in detail["changes"])


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_silver_merge_and_a_gold_rebuild_log_the_rows_they_updated(tmp_path: Path, fmt: str) -> None:
    settings = _settings(tmp_path / "home", fmt)
    runtime = Runtime(settings)
    _entries(runtime, "first", [("a", 500), ("b", 300)])
    assert _materialize(settings).success
    corrected = runtime.contract("ledger", "entry_posted").message_class(entry_id="first-0", account_id="a", amount=700)
    corrected.posted_at.FromDatetime(datetime.now(UTC))  # entry first-0 again, corrected: an update of its key
    landing = runtime.settings.landing_dir
    write_landing_file(landing, "ledger", "entry_posted", "correction", [corrected.SerializeToString()])
    _entries(runtime, "second", [("c", 100)])  # and a new entry, of a new account
    run = _materialize(settings)
    assert run.success
    sql = f"SELECT * FROM ledger.event_log WHERE run_id = '{run.run_id}' AND kind = 'commit'"
    commits = {r["table_name"]: r for r in _events(settings, sql)}
    assert (commits["ledger.silver_entries"]["rows_updated"], commits["ledger.silver_entries"]["rows"]) == (1, 3)
    assert (commits["ledger.balances"]["rows_updated"], commits["ledger.balances"]["rows"]) == (1, 3)  # a; c is new
    assert commits["ledger.bronze_entry_posted"]["rows_updated"] is None  # an append updates nothing
