"""`meshlake init` and `meshlake domain new|list|validate` as a user runs them: the files they write, their
output, exit codes (usage 2, input 1, one line, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

BIN = Path(sys.executable).parent
MESHLAKE = str(BIN / "meshlake")


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MESHLAKE, *args], capture_output=True, text=True, env=env, timeout=180, cwd=cwd)


def ok(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = run(args, env, cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result


def one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith(("error:", "Error:"))]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    return base | {"COLUMNS": "200"}


@pytest.fixture
def project(tmp_path: Path, env: dict[str, str]) -> Path:
    ok(["init", "shop"], env, tmp_path)
    return tmp_path / "shop"


def test_init_writes_a_project_that_needs_no_module_of_its_own(project):
    names = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}

    assert {"meshlake.yaml", "pyproject.toml", "dagster.yaml", ".gitignore", "README.md"} <= names
    assert (project / "domains").is_dir() and (project / "schemas").is_dir()
    assert not [n for n in names if n.endswith("options.proto")]  # found on the include path of the package
    assert ".meshlake/" in (project / ".gitignore").read_text().splitlines()
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["tool"]["dagster"]["module_name"] == "meshlake.definitions"
    assert any(d.startswith("meshlake") for d in pyproject["project"]["dependencies"])
    assert yaml.safe_load((project / "meshlake.yaml").read_text()) == {"domains": "domains", "schemas": ["schemas"]}


def test_init_refuses_a_folder_that_is_not_empty_unless_forced(tmp_path, env):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "README.md").write_text("my own\n")

    line = one_error_line(run(["init", "mine"], env, tmp_path), 1)
    assert "mine" in line and "not empty" in line and "--force" in line
    assert not (tmp_path / "mine" / "meshlake.yaml").exists()

    ok(["init", "mine", "--force"], env, tmp_path)
    assert (tmp_path / "mine" / "README.md").read_text() == "my own\n"
    assert (tmp_path / "mine" / "meshlake.yaml").is_file()
