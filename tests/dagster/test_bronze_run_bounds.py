"""The bronze asset commits every `ingest_max_rows_per_commit` rows and stops reading at `ingest_max_rows_per_run`."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from pipelines.bootstrap import Runtime
from pipelines.core.framing import unframe
from pipelines.dagster.resources import MeshlakeResource
from pipelines.definitions import build_definitions
from pipelines.generation import generate_landing
from pipelines.settings import Settings
from tests.paths import MESH

BRONZE = dg.AssetKey(["orders", "bronze", "order_placed"])


def _count(value: object) -> int:
    assert isinstance(value, int), value
    return value


def test_the_run_bounds_from_the_settings_reach_the_bronze_asset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = Runtime(Settings.load(project=MESH, env={"MESHLAKE_HOME": str(tmp_path / "home")}))
    generate_landing(runtime, "orders", 800, seed=3, files=4)
    files = sorted(runtime.landing.files("orders", "order_placed"), key=lambda f: f.uri)
    sizes = [len(unframe(Path(f.uri).read_bytes()).payloads) for f in files]
    monkeypatch.setenv("MESHLAKE_INGEST_MAX_ROWS_PER_RUN", str(sizes[0] + 1))  # reached within the second file
    monkeypatch.setenv("MESHLAKE_INGEST_MAX_ROWS_PER_COMMIT", "1")  # a commit after every file
    assets = [a for a in build_definitions().assets or [] if isinstance(a, dg.AssetsDefinition)]
    resource = MeshlakeResource(project=str(MESH), home=str(runtime.settings.home))

    with dg.DagsterInstance.ephemeral() as instance:
        runs = [
            dg.materialize(assets, selection=[BRONZE], resources={"meshlake": resource}, instance=instance)
            for _ in range(3)
        ]
    metadata = [run.get_asset_materialization_events()[0].materialization.metadata for run in runs]
    read = [_count(m["rows_written"].value) + _count(m["quarantined"].value) for m in metadata]
    assert read == [sizes[0] + sizes[1], sizes[2] + sizes[3], 0]
    assert [m["commits"].value for m in metadata] == [2, 2, 0]
