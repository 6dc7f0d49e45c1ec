"""Silver rebuilds on Sail (engine: spark): the embedded rebuild's rows, and runs switching engines skip nothing.

One entity two event types build (with a sequence, a finishing transform and an SCD2 history), from events landed
in two batches: the second holds copies of events of the first and late events (older than ones already applied).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from pipelines.adapters.seaweedfs import SeaweedServer
from pipelines.adapters.server_process import free_port
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.ports.engine import EngineError
from pipelines.services.build import build_silver
from pipelines.settings import Settings
from tests.accounts import DOMAIN, ENTITY, START, both, events, land_ingest
from tests.paths import ACCOUNTS

pytestmark = [pytest.mark.xdist_group("sail"), pytest.mark.usefixtures("spark_client")]  # one Sail at a time


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    runtimes: list[Runtime] = []

    def make(fmt: str, home: str = "home", **env: str) -> Runtime:
        values = {"MESHLAKE_HOME": str(tmp_path / home), "MESHLAKE_FORMAT": fmt, "MESHLAKE_ENGINE": "spark"}
        runtimes.append(Runtime(Settings.load(project=ACCOUNTS, env=values | env)))
        return runtimes[-1]

    yield make
    for runtime in runtimes:
        runtime.close()


def _batches(runtime: Runtime) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """Two batches: the second holds copies of a tenth of the first's events, and late events (older times)."""
    first, later = events(runtime, 1_200, 1), events(runtime, 600, 2)
    copies = first[::10]
    return first, later + copies


def _build(runtime: Runtime, run: str, full: bool = False, engine: bool = True, entity: str = ENTITY) -> dict[str, Any]:
    where = runtime.engine_for(DOMAIN) if engine else None
    return build_silver(runtime.domain(DOMAIN), entity, runtime, run, full, where).details


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_sail_rebuild_gives_the_rows_of_the_embedded_rebuild_versions_included(
    accounts: Callable[..., Runtime], fmt: str
) -> None:
    runtime = accounts(fmt)
    first, second = _batches(runtime)
    land_ingest(runtime, first, "batch-1")
    land_ingest(runtime, second, "batch-2")
    embedded = _build(runtime, "embedded", full=True, engine=False)
    assert embedded["engine"] == "embedded"
    expected = both(runtime)
    assert expected[0].num_rows == 40 and expected[1].num_rows == 1_800  # every event once, copies dropped

    on_sail = _build(runtime, "sail", full=True)
    assert (on_sail["engine"], on_sail["mode"], on_sail["history_engine"]) == ("spark", "full", "spark")
    assert on_sail["spark_url"].startswith("sc://127.0.0.1:")
    state, history = both(runtime)
    assert (state.schema, history.schema) == (expected[0].schema, expected[1].schema)  # types, versions' too
    assert state.equals(expected[0])
    assert history.equals(expected[1])
    assert set(state.column_names) >= {"_v_account_opened", "_v_balance_changed", "overdrawn", "tier_name"}
    assert {len(v) for v in state.column("_v_balance_changed").to_pylist() if v is not None} == {24}
    counts = ("events_read", "rows_scanned")
    assert [embedded[c] for c in counts] == [1_800, 1_200 + 600 + 120]  # the events once; bronze holds the copies
    assert [on_sail.get(c) for c in counts] == [embedded[c] for c in counts]


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_events_without_a_key_make_one_row_on_sail_as_embedded_with_each_event_s_newest_change(
    accounts: Callable[..., Runtime], fmt: str
) -> None:
    """Ledgers are keyed by a column the conform functions derive (not the events' entity_key): accounts of tier 0
    and negative balances conform to a null key, which is one key, in the state and in the history."""
    runtime = accounts(fmt)
    first, second = _batches(runtime)
    land_ingest(runtime, first, "batch-1")
    land_ingest(runtime, second, "batch-2")
    _build(runtime, "embedded", full=True, engine=False, entity="ledgers")
    state, history = both(runtime, "ledgers")
    assert state.num_rows == 11 and history.num_rows == 1_800  # ten ledgers and the null one; every event once
    unkeyed = state.filter(pc.is_null(state.column("ledger")))
    assert unkeyed.num_rows == 1
    current = history.filter(pc.and_(pc.is_null(history.column("ledger")), history.column("is_current")))
    assert unkeyed.drop_columns("ledger") == current.select(unkeyed.column_names).drop_columns("ledger")
    assert None not in unkeyed.select(["_v_account_opened", "_v_balance_changed"]).to_pylist()[0].values()

    on_sail = _build(runtime, "sail", full=True, entity="ledgers")
    assert (on_sail["engine"], on_sail["history_engine"]) == ("spark", "spark")
    on_sail_state, on_sail_history = both(runtime, "ledgers")
    assert on_sail_history == history  # the null key's changes replay in one window partition
    assert on_sail_state == state  # one row, not one per event (a full outer join pairs no null keys)


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_runs_switching_engines_neither_skip_nor_repeat_events(accounts: Callable[..., Runtime], fmt: str) -> None:
    runtime, alone = accounts(fmt), accounts(fmt, home="alone")
    first, second = _batches(runtime)
    written = land_ingest(runtime, first, "batch-1")
    built = _build(runtime, "sail-first")  # the first build rebuilds: on Sail
    assert (built["engine"], built["mode"]) == ("spark", "full")

    later = land_ingest(runtime, second, "batch-2")
    upsert = _build(runtime, "embedded-upsert")  # an upsert of changes runs here, from Sail's watermark
    assert (upsert["engine"], upsert["mode"]) == ("embedded", "incremental")
    assert upsert["rows_scanned"] == sum(later.values())  # exactly what bronze gained since the Sail build
    assert sum(written.values()) + sum(later.values()) == 1_200 + 600 + 120

    for batch, name in ((first, "batch-1"), (second, "batch-2")):  # the same events, all embedded
        land_ingest(alone, batch, name)
        _build(alone, name, engine=False)
    assert both(runtime) == both(alone)

    land_ingest(runtime, events(runtime, 300, 3), "batch-3")
    _build(runtime, "sail-rebuild", full=True)  # a Sail rebuild after embedded runs, then an upsert after it
    land_ingest(runtime, events(runtime, 300, 4), "batch-4")
    assert _build(runtime, "embedded-after")["mode"] == "incremental"
    for run in ("batch-3", "batch-4"):
        land_ingest(alone, events(alone, 300, int(run[-1])), run)
        _build(alone, run, engine=False)
    assert both(runtime) == both(alone)


def test_an_unreachable_engine_fails_the_rebuild_in_one_line_and_leaves_the_table(
    accounts: Callable[..., Runtime],
) -> None:
    runtime = accounts("delta", MESHLAKE_SPARK_URL=f"sc://127.0.0.1:{free_port()}", MESHLAKE_SPARK_TIMEOUT_SECONDS="20")
    first, _ = _batches(runtime)
    land_ingest(runtime, first, "batch-1")
    assert _build(runtime, "embedded", engine=False)["engine"] == "embedded"
    before = (
        both(runtime),
        runtime.store_for(DOMAIN, Layer.SILVER).history(runtime.domain(DOMAIN).silver_table(ENTITY)),
    )
    assert (before[0][0].num_rows, before[0][1].num_rows) == (40, 1_200)  # "left as it was" is not "left empty"

    with pytest.raises(EngineError) as failed:
        _build(runtime, "unreachable", full=True)
    assert "\n" not in str(failed.value) and str(failed.value).startswith("Spark Connect at sc://127.0.0.1:")
    silver = runtime.domain(DOMAIN).silver_table(ENTITY)
    assert (both(runtime), runtime.store_for(DOMAIN, Layer.SILVER).history(silver)) == before


def test_a_domain_function_failing_on_the_engine_fails_the_rebuild_in_one_line_naming_its_error(
    accounts: Callable[..., Runtime],
) -> None:
    runtime = accounts("iceberg")
    first, _ = _batches(runtime)
    land_ingest(runtime, first, "batch-1")
    _build(runtime, "sail-first")
    broken = runtime.schemas.message_class("accounts.v1.BalanceChanged")(event_id="broken", account_id="a-01", rate=-1)
    broken.at.FromDatetime(START)
    land_ingest(runtime, [("balance_changed", broken)], "batch-2")
    before = both(runtime)

    with pytest.raises(ValueError, match="a negative rate"):
        _build(runtime, "embedded", full=True, engine=False)
    with pytest.raises(EngineError) as failed:
        _build(runtime, "sail", full=True)
    message = str(failed.value)
    assert "\n" not in message and message.startswith("Sail on sc://127.0.0.1:")
    assert "ValueError: a negative rate: the rates feed is broken (in the server's Python worker)" in message
    assert both(runtime) == before


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_on_s3_a_sail_rebuild_reads_bronze_there_and_gives_the_rows_of_the_embedded_rebuild(
    accounts: Callable[..., Runtime], fmt: str, s3_server: SeaweedServer, s3_prefix: str
) -> None:
    runtime = accounts(fmt, MESHLAKE_WAREHOUSE=f"{s3_prefix}/warehouse", MESHLAKE_S3_ENDPOINT=s3_server.endpoint,
                       MESHLAKE_S3_ACCESS_KEY_ID=s3_server.access_key,
                       MESHLAKE_S3_SECRET_ACCESS_KEY=s3_server.secret_key)  # fmt: skip
    first, second = _batches(runtime)
    land_ingest(runtime, first, "batch-1")
    land_ingest(runtime, second, "batch-2")
    bronze = runtime.store_for(DOMAIN, Layer.BRONZE)
    assert bronze.location(runtime.domain(DOMAIN).bronze_table("balance_changed")).startswith(f"{s3_prefix}/")
    _build(runtime, "embedded", full=True, engine=False)
    expected = both(runtime)
    assert expected[0].num_rows == 40 and expected[1].num_rows == 1_800  # the events reached bronze and silver

    on_sail = _build(runtime, "sail", full=True)
    assert (on_sail["engine"], on_sail["history_engine"]) == ("spark", "spark")
    assert both(runtime) == expected
