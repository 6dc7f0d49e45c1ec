"""Dagster on engine spark: the same assets, checks and partitions; the run says which engine built each product
and each silver rebuild."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from pipelines.adapters.server_process import free_port
from pipelines.bootstrap import Runtime
from pipelines.dagster.partitions import update_tags
from pipelines.dagster.resources import MeshlakeResource
from pipelines.definitions import build_definitions
from pipelines.generation import generate_landing
from tests.accounts import landed_assets
from tests.paths import ACCOUNTS

pytestmark = pytest.mark.xdist_group("sail")

REVENUE = dg.AssetKey(["orders", "gold", "daily_revenue"])
FACTS = dg.AssetKey(["orders", "gold", "order_facts"])
SILVER = dg.AssetKey(["accounts", "silver", "accounts"])


@pytest.mark.usefixtures("spark_client")
def test_gold_materialises_on_sail_with_its_checks_and_the_engine_in_the_metadata(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime("delta")
    generate_landing(runtime, "orders", 1_000, seed=5, files=1)
    defs = build_definitions()
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    resource = MeshlakeResource(home=str(runtime.settings.home), format="delta", engine="spark")
    instance = dg.DagsterInstance.ephemeral()
    upstream = [k for a in assets for k in a.keys if k.path[0] == "orders" and k.path[1] != "gold"]
    plain = dg.materialize(assets, selection=[*upstream, FACTS], resources={"meshlake": resource}, instance=instance)
    tags = update_tags(defs.resolve_assets_def(REVENUE).partitions_def)
    daily = dg.materialize(assets, selection=[REVENUE], resources={"meshlake": resource}, instance=instance, tags=tags)
    assert plain.success and daily.success
    for run, key in ((plain, FACTS), (daily, REVENUE)):
        events = [e for e in run.get_asset_materialization_events() if e.asset_key == key]
        metadata = events[-1].materialization.metadata  # a range of partitions: one event a partition
        assert metadata["engine"].value == "spark"
        spark_url = metadata["spark_url"].value
        assert isinstance(spark_url, str) and spark_url.startswith("sc://127.0.0.1:")
        assert metadata["spark_session_id"].value
        assert all(c.passed for c in run.get_asset_check_evaluations() if c.asset_key == key)


@pytest.mark.usefixtures("spark_client")
def test_silver_rebuilds_on_sail_says_so_and_an_unreachable_engine_fails_the_asset_in_one_line(tmp_path: Path) -> None:
    settings, runtime, assets = landed_assets(ACCOUNTS, tmp_path / "home")
    home, instance = str(settings.home), dg.DagsterInstance.ephemeral()
    on_sail = MeshlakeResource(project=str(ACCOUNTS), home=home, engine="spark")
    built = dg.materialize(assets, resources={"meshlake": on_sail}, instance=instance)
    assert built.success
    silver = next(e for e in built.get_asset_materialization_events() if e.asset_key == SILVER).materialization
    assert (silver.metadata["engine"].value, silver.metadata["history_engine"].value) == ("spark", "spark")
    spark_url = silver.metadata["spark_url"].value
    assert isinstance(spark_url, str) and spark_url.startswith("sc://127.0.0.1:")
    assert (silver.metadata["events_read"].value, silver.metadata["rows_scanned"].value) == (300, 300)  # as embedded

    gone = MeshlakeResource(project=str(ACCOUNTS), home=home, engine="spark", spark_url=f"sc://127.0.0.1:{free_port()}")
    rebuild = {"ops": {"accounts__silver__accounts": {"config": {"full_rebuild": True}}}}
    failed = dg.materialize(assets, selection=[SILVER], resources={"meshlake": gone}, instance=instance,
                            run_config=rebuild, raise_on_error=False)  # fmt: skip
    assert not failed.success
    error = next(e for e in failed.all_events if e.is_step_failure).step_failure_data.error
    assert error is not None
    message = error.cause.message if error.cause else error.message
    assert "Spark Connect at sc://127.0.0.1:" in message and "\n" not in message.strip()
    runtime.close()
