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


def test_init_writes_a_project_that_needs_no_module_of_its_own(project: Path) -> None:
    names = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}

    assert {"meshlake.yaml", "pyproject.toml", "dagster.yaml", ".gitignore", "README.md"} <= names
    assert (project / "domains").is_dir() and (project / "schemas").is_dir()
    assert not [n for n in names if n.endswith("options.proto")]  # found on the include path of the package
    assert ".meshlake/" in (project / ".gitignore").read_text().splitlines()
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["tool"]["dagster"]["module_name"] == "meshlake.definitions"
    assert any(d.startswith("meshlake") for d in pyproject["project"]["dependencies"])
    assert yaml.safe_load((project / "meshlake.yaml").read_text()) == {"domains": "domains", "schemas": ["schemas"]}


def test_init_refuses_a_folder_that_is_not_empty_unless_forced(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "README.md").write_text("my own\n")

    line = one_error_line(run(["init", "mine"], env, tmp_path), 1)
    assert "mine" in line and "not empty" in line and "--force" in line
    assert not (tmp_path / "mine" / "meshlake.yaml").exists()

    ok(["init", "mine", "--force"], env, tmp_path)
    assert (tmp_path / "mine" / "README.md").read_text() == "my own\n"
    assert (tmp_path / "mine" / "meshlake.yaml").is_file()


def test_init_sample_holds_the_three_sample_domains(tmp_path: Path, env: dict[str, str]) -> None:
    ok(["init", "demo", "--sample"], env, tmp_path)

    listed = ok(["domain", "list", "--json"], env, tmp_path / "demo")
    shown = yaml.safe_load(listed.stdout)
    assert [d["domain"] for d in shown["domains"]] == ["orders", "payments", "shipping"]
    assert shown["problems"] == []
    assert not (tmp_path / "demo" / ".meshlake").exists()  # listing reads, it creates nothing


def test_domain_new_adds_a_domain_that_validates_and_lists(project: Path, env: dict[str, str]) -> None:
    ok(["domain", "new", "inventory"], env, project)

    assert (project / "domains" / "inventory" / "domain.yaml").is_file()
    assert (project / "schemas" / "inventory" / "v1" / "inventory.proto").is_file()
    assert ok(["domain", "validate"], env, project).stdout.strip() == "OK"
    assert ok(["domain", "validate", "inventory"], env, project).stdout.strip() == "OK"
    table = ok(["domain", "list"], env, project / "domains").stdout  # found walking up
    assert "inventory" in table and "team-inventory" in table and "item_changed" in table and "daily_items" in table


def test_the_new_domains_tests_pass(project: Path, env: dict[str, str]) -> None:
    ok(["domain", "new", "inventory"], env, project)

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        capture_output=True, text=True, env=env, cwd=project, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


@pytest.mark.parametrize("name", ["Inventory", "9lives", "my-domain"])
def test_domain_new_refuses_a_name_that_is_not_an_identifier(project: Path, env: dict[str, str], name: str) -> None:
    line = one_error_line(run(["domain", "new", name], env, project), 2)
    assert name in line and "identifier" in line
    assert not (project / "domains" / name).exists()


def test_domain_new_refuses_an_existing_domain(project: Path, env: dict[str, str]) -> None:
    ok(["domain", "new", "inventory"], env, project)
    line = one_error_line(run(["domain", "new", "inventory"], env, project), 1)
    assert "inventory" in line and "exists" in line


def test_domain_commands_outside_a_project_say_how_to_make_one(tmp_path: Path, env: dict[str, str]) -> None:
    line = one_error_line(run(["domain", "list"], env, tmp_path), 1)
    assert "meshlake init" in line


def test_validate_names_each_problem_by_file_and_line(project: Path, env: dict[str, str]) -> None:
    ok(["domain", "new", "inventory"], env, project)
    ok(["domain", "new", "stock"], env, project)
    spec = project / "domains" / "inventory" / "domain.yaml"
    text = spec.read_text().replace(
        "      - {type: row_count, min: 1, severity: warn}",
        "      - {type: row_count, min: 1, severity: warn}\n      - {type: row_count, max: 10}",
    )
    spec.write_text(text)

    result = run(["domain", "validate"], env, project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith(f"{spec}:")
    assert "row_count" in lines[0] and "daily_items" in lines[0]
    assert ok(["domain", "validate", "stock"], env, project).stdout.strip() == "OK"


def test_validate_reports_a_missing_transform_and_a_broken_proto(project: Path, env: dict[str, str]) -> None:
    ok(["domain", "new", "inventory"], env, project)
    ok(["domain", "new", "stock"], env, project)
    transforms = project / "domains" / "inventory" / "transforms.py"
    transforms.write_text(transforms.read_text().replace("def daily_items(", "def daily_things("))
    proto = project / "schemas" / "stock" / "v1" / "stock.proto"
    proto.write_text(proto.read_text().replace('entity_key: "item_id"', 'entity_key: "no_such_field"'))

    result = run(["domain", "validate"], env, project)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith(str(project / "domains" / "inventory" / "domain.yaml")) and "daily_items" in line
               for line in lines), lines  # fmt: skip
    assert any(line.startswith("schemas/stock/v1/stock.proto:") and "no_such_field" in line and "domain stock" in line
               for line in lines), lines  # fmt: skip
    assert len(lines) == 2


def test_validate_of_an_unknown_domain_is_a_usage_error(project: Path, env: dict[str, str]) -> None:
    line = one_error_line(run(["domain", "validate", "nosuch"], env, project), 2)
    assert "nosuch" in line


def test_validate_names_a_read_that_is_not_granted_by_its_line(project: Path, env: dict[str, str]) -> None:
    ok(["domain", "new", "inventory"], env, project)
    ok(["domain", "new", "stock"], env, project)
    spec = project / "domains" / "stock" / "domain.yaml"
    spec.write_text(spec.read_text().replace("inputs: [silver.items]", "inputs: [silver.items, inventory.daily_items]"))
    line = next(n for n, text in enumerate(spec.read_text().splitlines(), 1) if "inventory.daily_items" in text)

    result = run(["domain", "validate"], env, project)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"{spec}:{line}: stock.daily_items: inputs: 'inventory.daily_items': inventory.daily_items is not granted "
        "to stock (add stock to its grants, or make it public)"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["init"], "Missing argument 'DIR'"),
        (["init", "x", "--bogus"], "No such option: --bogus"),
        (["domain", "new"], "Missing argument 'NAME'"),
        (["domain", "bogus"], "No such command 'bogus'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, env: dict[str, str], args: list[str], message: str) -> None:
    line = one_error_line(run(args, env, tmp_path), 2)
    assert message in line
    assert not list(tmp_path.iterdir())
