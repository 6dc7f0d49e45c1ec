"""A home written with one MESHLAKE_FORMAT refuses a run with another: the catalog and queries would disagree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.adapters.home_format import HomeFormatError
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer, TableId
from pipelines.settings import Settings
from tests.paths import MESH

MESHLAKE = str(Path(sys.executable).parent / "meshlake")


def _write_a_table(home: Path, fmt: str | None) -> None:
    env = {"MESHLAKE_PROJECT": str(MESH), "MESHLAKE_HOME": str(home)} | ({"MESHLAKE_FORMAT": fmt} if fmt else {})
    runtime = Runtime(Settings.load(project=MESH, env=env))
    store = runtime.store_for("payments", Layer.GOLD, "settlement_summary")
    table = TableId("payments", "settlement_summary")
    store.ensure_table(table, pa.schema([("day", pa.date32())]))


@pytest.mark.parametrize(
    ("written", "asked", "says"),
    [
        ("iceberg", "delta", ["iceberg only (MESHLAKE_FORMAT=iceberg)", "delta only (MESHLAKE_FORMAT=delta)"]),
        ("delta", None, ["delta only", "each domain's own formats (MESHLAKE_FORMAT unset)"]),
        (None, "iceberg", ["each domain's own formats", "iceberg only"]),
    ],
)
def test_a_run_with_another_format_is_refused_naming_the_home_and_both(
    tmp_path: Path, written: str | None, asked: str | None, says: list[str]
) -> None:
    home = tmp_path / "home"
    _write_a_table(home, written)
    with pytest.raises(HomeFormatError) as refused:
        _write_a_table(home, asked)
    message = str(refused.value)
    assert f"MESHLAKE_HOME={home}" in message
    for part in says:
        assert part in message
    _write_a_table(home, written)  # the home's own layout still works


def test_the_command_line_refuses_it_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _write_a_table(home, "iceberg")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    env = base | {"MESHLAKE_PROJECT": str(MESH), "MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": "delta"}
    for args in (["products"], ["query", "SELECT * FROM payments.settlement_summary"]):
        result = subprocess.run([MESHLAKE, *args], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
        assert result.returncode == 1, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert "iceberg only" in lines[0] and "delta only" in lines[0]
