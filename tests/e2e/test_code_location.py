"""Dagster loads a team's project as a code location with no module of the team's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fixture_projects import add_domain, make_project

BIN = Path(sys.executable).parent
ASSET_KEYS = (
    "import json; from meshlake.definitions import defs; "
    "print(json.dumps(sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())))"
)


def test_dagster_loads_the_project_of_its_working_directory(tmp_path: Path) -> None:
    root = make_project(tmp_path / "team", "pyproject.toml")
    add_domain(root, "sales")
    add_domain(root, "broken", "colour: red\n")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + '\n[tool.dagster]\nmodule_name = "meshlake.definitions"\ncode_location_name = "team"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}

    validate = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate"],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=600,
    )
    assert validate.returncode == 0, validate.stderr[-3000:]
    assert "Validation successful for code location team" in validate.stdout + validate.stderr
    assert f"{root / 'domains' / 'broken' / 'domain.yaml'}:6: colour: Extra inputs are not permitted" in validate.stderr
    listed = subprocess.run(
        [sys.executable, "-c", ASSET_KEYS], capture_output=True, text=True, cwd=root / "domains", env=env, timeout=300
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    keys = json.loads(listed.stdout.strip().splitlines()[-1])
    assert "sales/bronze/happened" in keys and "broken/load_error" in keys
    assert not any(k.startswith("orders/") for k in keys)  # not the sample project of the checkout
    assert sorted(p.name for p in root.iterdir()) == ["dagster.yaml", "domains", "pyproject.toml", "schemas"]


def test_meshlake_dev_and_the_fork_server_name_the_same_code_location_module() -> None:
    from pipelines.cli import dev
    from pipelines.dagster.code_location import CODE_MODULE, _executor_config

    assert dev.CODE_MODULE == CODE_MODULE == "meshlake.definitions"
    config = _executor_config({"in_process": False})
    assert config["multiprocess"]["start_method"]["forkserver"]["preload_modules"] == [CODE_MODULE]
