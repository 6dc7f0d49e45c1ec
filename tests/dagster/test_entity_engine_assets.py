"""Dagster: one entity rebuilt on Sail by its own `engine: spark` in an embedded project, the other in process."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from pipelines.dagster.resources import MeshlakeResource
from pipelines.services.build import build_silver
from tests.accounts import both, landed_assets, own_engines

pytestmark = pytest.mark.xdist_group("sail")


@pytest.mark.usefixtures("spark_client")
def test_an_entity_s_own_engine_spark_rebuilds_it_on_sail_and_the_other_stays_embedded(tmp_path: Path) -> None:
    project = own_engines(tmp_path, {"ledgers": "spark"})
    settings, runtime, assets = landed_assets(project, tmp_path / "home")
    resource = MeshlakeResource(project=str(project), home=str(settings.home), engine="embedded")
    built = dg.materialize(assets, resources={"meshlake": resource}, instance=dg.DagsterInstance.ephemeral())
    assert built.success
    metadata: dict[str, dict[str, object]] = {}
    for done in built.get_asset_materialization_events():
        key = done.asset_key
        assert key is not None
        if key.path[1] == "silver":
            metadata[key.path[-1]] = {name: value.value for name, value in done.materialization.metadata.items()}
    accounts, ledgers = metadata["accounts"], metadata["ledgers"]
    assert (accounts["engine"], accounts["history_engine"]) == ("embedded", "embedded")
    assert (ledgers["engine"], ledgers["history_engine"]) == ("spark", "spark")
    assert str(ledgers["spark_url"]).startswith("sc://127.0.0.1:")
    assert "spark_url" not in accounts
    assert accounts["dagster/row_count"] == 40  # the events' 40 accounts
    on_sail = both(runtime, "ledgers")
    assert ledgers["dagster/row_count"] == on_sail[0].num_rows
    build_silver(runtime.domain("accounts"), "ledgers", runtime, "embedded", full=True, engine=None)
    assert on_sail == both(runtime, "ledgers")  # the rows an embedded rebuild gives, versions included
    runtime.close()
