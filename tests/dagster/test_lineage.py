"""OpenLineage events and run logs of real Dagster materialisations on the lineage project.

With `OPENLINEAGE_URL` pointing at a receiver, every asset run sends START then COMPLETE (or FAIL), each
valid against the OpenLineage JSON schema (offline copies in tests/fixtures/openlineage), the datasets
named by their table locations, with schema facets from the .proto, the column lineage the transforms
declare (silver's conform function, gold's transform) and the product's checks as data-quality
assertions. Unconfigured, nothing is sent; an unreachable receiver fails no run. meshlake's log lines of
a step reach the run's logs (the Dagster UI).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest

from pipelines.adapters.openlineage.emitter import LineageEmitter
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer, TableId
from pipelines.definitions import build_definitions
from pipelines.generation import generate_landing
from pipelines.settings import Settings
from tests.lineage_receiver import receiver, schema_errors
from tests.paths import LINEAGE

BRONZE = dg.AssetKey(["shop", "bronze", "sale_made"])
SILVER = dg.AssetKey(["shop", "silver", "sales"])
GOLD = dg.AssetKey(["shop", "gold", "daily_sales"])


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The lineage project on a home of its own; the variables openlineage-python adds to the environment
    (it turns OPENLINEAGE_URL into OPENLINEAGE__TRANSPORT__* ones) are removed after the test."""
    saved = dict(os.environ)
    monkeypatch.setenv("MESHLAKE_PROJECT", str(LINEAGE))
    monkeypatch.setenv("MESHLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # no openlineage.yml here
    yield
    os.environ.clear()
    os.environ.update(saved)


def _materialize(
    selection: list[dg.AssetKey], events: int = 60, instance: dg.DagsterInstance | None = None
) -> tuple[dg.ExecuteInProcessResult, Runtime]:
    settings = Settings.load()
    runtime = Runtime(settings)
    if events:
        generate_landing(runtime, "shop", events, seed=3, files=1)
    defs = build_definitions(settings)
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    outcome = dg.materialize(
        assets,
        selection=selection,
        resources=dict(defs.resources or {}),
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    return outcome, runtime


def _by_job(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    jobs: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        jobs.setdefault(event["job"]["name"], []).append(event)
    return jobs


def _root(runtime: Runtime, layer: Layer, table: TableId) -> str:
    """The table's folder, the dataset's name in namespace `file` (an Iceberg table's location is its metadata
    file, a `file://` URI)."""
    return runtime.store_for("shop", layer).location(table).rsplit("/metadata/", 1)[0].removeprefix("file://")


def test_each_asset_run_sends_start_and_complete_valid_against_the_schema(
    environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with receiver() as got:
        monkeypatch.setenv("OPENLINEAGE_URL", got.url)
        outcome, runtime = _materialize([BRONZE, SILVER, GOLD])
    assert outcome.success
    assert {path for path in got.paths} == {"/api/v1/lineage"}
    invalid = {e["job"]["name"] + " " + e["eventType"]: schema_errors(e) for e in got.events}
    assert not {k: v for k, v in invalid.items() if v}, invalid

    jobs = _by_job(got.events)
    assert set(jobs) == {"shop.bronze.sale_made", "shop.silver.sales", "shop.gold.daily_sales"}
    for name, events in jobs.items():
        assert [e["eventType"] for e in events] == ["START", "COMPLETE"], name
        assert len({e["run"]["runId"] for e in events}) == 1, name
        assert {e["job"]["namespace"] for e in events} == {"meshlake.lineage"}
        parent = events[-1]["run"]["facets"]["parent"]
        assert parent["run"]["runId"] == outcome.run_id

    silver_root = _root(runtime, Layer.SILVER, TableId("shop", "silver_sales"))
    bronze_root = _root(runtime, Layer.BRONZE, TableId("shop", "bronze_sale_made"))
    gold_root = _root(runtime, Layer.GOLD, TableId("shop", "daily_sales"))

    # bronze: reads the event's landing folder, writes bronze and the quarantine; the proto's docs in the schema
    bronze = jobs["shop.bronze.sale_made"][-1]
    assert [(d["namespace"], d["name"]) for d in bronze["inputs"]] == [
        ("file", str(runtime.settings.landing_dir / "shop" / "sale_made"))
    ]
    outputs = {d["name"]: d for d in bronze["outputs"]}
    assert set(outputs) == {bronze_root, _root(runtime, Layer.QUARANTINE, TableId("shop", "quarantine"))}
    fields = {f["name"]: f for f in outputs[bronze_root]["facets"]["schema"]["fields"]}
    assert fields["amount_cents"] == {"name": "amount_cents", "type": "int64", "description": "Amount paid, in cents."}
    assert outputs[bronze_root]["outputFacets"]["outputStatistics"]["rowCount"] == 60
    history = runtime.store_for("shop", Layer.BRONZE).history(TableId("shop", "bronze_sale_made"))
    assert outputs[bronze_root]["facets"]["version"]["datasetVersion"] == str(history[-1].version)

    # silver reads bronze, gold reads silver: the graph joins up by dataset name
    silver = jobs["shop.silver.sales"][-1]
    assert [d["name"] for d in silver["inputs"]] == [bronze_root]
    assert [d["name"] for d in silver["outputs"]] == [silver_root]
    silver_lineage = silver["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert {c: [(f["name"], f["field"]) for f in v["inputFields"]] for c, v in silver_lineage.items()} == {
        c: [(bronze_root, c)] for c in ("sale_id", "sold_at", "amount_cents", "store")
    }
    gold = jobs["shop.gold.daily_sales"][-1]
    assert [d["name"] for d in gold["inputs"]] == [silver_root]
    (product,) = gold["outputs"]
    assert product["name"] == gold_root

    # column lineage, as the transform declares it (`derives`)
    lineage = product["facets"]["columnLineage"]["fields"]
    assert {c: [(f["name"], f["field"]) for f in v["inputFields"]] for c, v in lineage.items()} == {
        "day": [(silver_root, "sold_at")],
        "store": [(silver_root, "store")],
        "revenue": [(silver_root, "amount_cents")],
        "sales": [(silver_root, "sale_id")],
    }
    # the product's checks as data-quality assertions: the warn-severity row count fails, the rest pass
    assertions = {a["assertion"]: a for a in product["facets"]["dataQualityAssertions"]["assertions"]}
    assert assertions["row_count"]["success"] is False
    assert assertions["row_count"]["severity"] == "warn"
    revenue = assertions["range_revenue"]
    assert (revenue["success"], revenue["severity"], revenue["column"]) == (True, "error", "revenue")
    assert "revenue" in revenue["description"]
    assert all(a["success"] for name, a in assertions.items() if name != "row_count"), assertions


def test_a_failing_asset_run_sends_fail_with_its_error(environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with receiver() as got:
        monkeypatch.setenv("OPENLINEAGE_URL", got.url)
        outcome, _ = _materialize([GOLD], events=0)  # its input was never built
    assert not outcome.success
    assert not [schema_errors(e) for e in got.events if schema_errors(e)]
    (events,) = _by_job(got.events).values()
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    error = events[-1]["run"]["facets"]["errorMessage"]
    assert error["programmingLanguage"] == "python"
    assert "silver_sales" in error["message"]


def test_a_refused_build_sends_fail_with_the_candidate_and_the_checks_that_refused_it(
    environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    first, runtime = _materialize([BRONZE, SILVER, GOLD], instance=instance)
    assert first.success
    store, table = runtime.store_for("shop", Layer.SILVER), TableId("shop", "silver_sales")
    row = store.read(table).slice(0, 1).to_pylist()[0] | {"sale_id": "S-BAD", "amount_cents": -(10**9)}
    store.append(table, pa.Table.from_pylist([row], schema=store.schema(table)))  # breaks range_revenue

    with receiver() as got:
        monkeypatch.setenv("OPENLINEAGE_URL", got.url)
        refused, _ = _materialize([GOLD], events=0, instance=instance)

    assert not refused.success
    assert not [schema_errors(e) for e in got.events if schema_errors(e)]
    (events,) = _by_job(got.events).values()
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    (product,) = events[-1]["outputs"]
    kept = runtime.candidates(runtime.store_for("shop", Layer.GOLD)).kept(TableId("shop", "daily_sales"))
    assert kept is not None
    assert product["facets"]["version"]["datasetVersion"] == str(kept.commit.version)  # the refused candidate
    assertions = {a["assertion"]: a["success"] for a in product["facets"]["dataQualityAssertions"]["assertions"]}
    assert assertions["range_revenue"] is False and assertions["not_null_day_store_revenue"] is True
    assert "failing checks range_revenue" in events[-1]["run"]["facets"]["errorMessage"]["message"]


def test_nothing_is_sent_unless_openlineage_is_configured(
    environment: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [n for n in os.environ if n.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(name)
    assert not Settings.load().openlineage  # so a run does not even import openlineage-python
    assert LineageEmitter.configured() is None
    (tmp_path / "openlineage.yml").write_text("transport:\n  type: console\n")  # the working directory's file
    assert Settings.load().openlineage
    assert LineageEmitter.configured() is not None
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert not Settings.load().openlineage
    assert LineageEmitter.configured() is None


def test_an_unreachable_receiver_fails_no_run(
    environment: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pipelines")
    with receiver() as gone:
        url = gone.url
    config = tmp_path / "openlineage.yml"  # openlineage-python's own file: no retries, a short timeout
    config.write_text(f"transport:\n  type: http\n  url: {url}\n  timeout: 1\n  retry:\n    total: 0\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    outcome, _ = _materialize([BRONZE], events=10)
    assert outcome.success
    unsent = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert [m.split(" event")[0] for m in unsent] == ["OpenLineage START", "OpenLineage COMPLETE"], unsent


def test_meshlake_log_lines_of_a_step_reach_the_run_logs(environment: None) -> None:
    instance = dg.DagsterInstance.ephemeral()
    outcome, runtime = _materialize([BRONZE, SILVER, GOLD], instance=instance)
    assert outcome.success
    messages = [entry.user_message for entry in instance.all_logs(outcome.run_id)]
    history = runtime.store_for("shop", Layer.GOLD).history(TableId("shop", "daily_sales"))
    for kind, table, asset in [
        ("commit", "shop.bronze_sale_made", "shop/bronze/sale_made"),
        ("commit", "shop.silver_sales", "shop/silver/sales"),
        ("commit", "shop.daily_sales", "shop/gold/daily_sales"),
        ("publish", "shop.daily_sales", "shop/gold/daily_sales"),
    ]:
        lines = [m for m in messages if m.startswith(f"{kind} {table} version ")]
        assert lines, (kind, table, messages)
        assert f"domain=shop asset={asset} run_id={outcome.run_id}" in lines[0]
    assert any(f"publish shop.daily_sales version {history[-1].version}:" in m for m in messages)


def _maintain(runtime: Runtime) -> dg.ExecuteInProcessResult:
    defs = build_definitions(runtime.settings)
    return defs.get_job_def("shop_maintenance").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), resources=dict(defs.resources or {}), raise_on_error=False
    )


def test_maintenance_sends_start_and_complete_naming_every_table_it_maintains(
    environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome, runtime = _materialize([BRONZE, SILVER, GOLD])
    assert outcome.success
    with receiver() as got:
        monkeypatch.setenv("OPENLINEAGE_URL", got.url)
        maintained = _maintain(runtime)
    assert maintained.success
    assert not {e["eventType"]: schema_errors(e) for e in got.events if schema_errors(e)}
    assert [(e["job"]["name"], e["eventType"]) for e in got.events] == [
        ("shop.maintenance", "START"),
        ("shop.maintenance", "COMPLETE"),
    ]
    complete = got.events[-1]
    assert complete["job"]["facets"]["jobType"]["jobType"] == "TASK"
    assert complete["run"]["facets"]["parent"]["run"]["runId"] == maintained.run_id
    tables = [
        (Layer.BRONZE, TableId("shop", "bronze_sale_made")),
        (Layer.SILVER, TableId("shop", "silver_sales")),
        (Layer.GOLD, TableId("shop", "daily_sales")),
        (Layer.EVENT_LOG, TableId("shop", "event_log")),
    ]
    assert {d["name"] for d in complete["outputs"]} >= {_root(runtime, layer, table) for layer, table in tables}
    assert complete["inputs"] == []


def test_a_failing_maintenance_sends_fail_with_its_error(environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, runtime = _materialize([BRONZE])
    assert outcome.success
    bronze = runtime.store_for("shop", Layer.BRONZE).location(TableId("shop", "bronze_sale_made"))
    Path(bronze.removeprefix("file://")).unlink()  # the table's current metadata file is lost
    with receiver() as got:
        monkeypatch.setenv("OPENLINEAGE_URL", got.url)
        maintained = _maintain(runtime)
    assert not maintained.success
    assert not [schema_errors(e) for e in got.events if schema_errors(e)]
    assert [e["eventType"] for e in got.events] == ["START", "FAIL"]
    assert "metadata.json" in got.events[-1]["run"]["facets"]["errorMessage"]["message"]
