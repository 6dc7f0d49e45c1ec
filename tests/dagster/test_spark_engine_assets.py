"""Dagster on engine spark: the same assets, checks and partitions; the run says which engine built each product."""

from __future__ import annotations

import dagster as dg
import pytest

from pipelines.dagster.partitions import update_tags
from pipelines.dagster.resources import MeshlakeResource
from pipelines.definitions import build_definitions
from pipelines.generation import generate_landing

pytestmark = pytest.mark.xdist_group("sail")

REVENUE = dg.AssetKey(["orders", "gold", "daily_revenue"])
FACTS = dg.AssetKey(["orders", "gold", "order_facts"])


@pytest.mark.usefixtures("spark_client")
def test_gold_materialises_on_sail_with_its_checks_and_the_engine_in_the_metadata(make_runtime):
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
        assert metadata["spark_url"].value.startswith("sc://127.0.0.1:")
        assert metadata["spark_session_id"].value
        assert all(c.passed for c in run.get_asset_check_evaluations() if c.asset_key == key)
