"""`meshlake schemas check` end to end: real protoc, real git, against a ref or a directory."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.adapters.protobuf.schema_history import SchemaHistoryError, default_against, load_snapshot
from pipelines.cli.schemas_cmd import app

ORDERS = """syntax = "proto3";
package shop.v1;

// An order.
message Order {
  string id = 1;
  int32 quantity = 2;
  int64 total_cents = 3;
}
"""
PATH = "shop/v1/orders.proto"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Temporary files, git configuration and the working directory stay inside tmp_path."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    for key, value in {
        "HOME": str(tmp_path),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _project_from_the_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """These checks find their project by walking up from the working directory, as a team's command does."""
    monkeypatch.delenv("MESHLAKE_PROJECT", raising=False)


def write(root: Path, text: str, name: str = PATH) -> Path:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)
    return root


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, timeout=60).stdout


def repo_with(tmp_path: Path, text: str, tag: str | None = None) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo / "schemas", text)
    (repo / "README").write_text("shop\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "schemas v1")
    if tag:
        git(repo, "tag", tag)
    return repo


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", *args])
    return result.exit_code, result.output


def test_check_against_a_directory_passes_a_compatible_change(tmp_path: Path) -> None:
    old = write(tmp_path / "old", ORDERS)
    write(
        tmp_path / "schemas",
        ORDERS.replace("  int32 quantity = 2;", "  int64 quantity = 2;\n  string note = 4;"),
    )
    code, output = run("--against", str(old))
    assert code == 0, output
    assert output.startswith(f"schemas OK against {old}: 1 files, 1 messages and enums compatible")


def test_check_against_a_directory_refuses_a_breaking_change(tmp_path: Path) -> None:
    old = write(tmp_path / "old", ORDERS)
    write(tmp_path / "schemas", ORDERS.replace("  int64 total_cents = 3;\n", "  string total_cents = 3;\n"))
    code, output = run("--against", str(old), "--schemas", "schemas")
    assert code == 1
    assert output.splitlines() == [
        "schemas/shop/v1/orders.proto:8: shop.v1.Order.total_cents: FIELD_SAME_TYPE: type changed from int64 to string",
        f"1 breaking change(s) against {old}",
    ]


def test_check_against_head_refuses_an_uncommitted_breaking_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = repo_with(tmp_path, ORDERS)
    write(repo / "schemas", ORDERS.replace("  int64 total_cents = 3;\n", ""))
    monkeypatch.chdir(repo)
    code, output = run("--against", "HEAD")
    assert code == 1
    assert output.splitlines()[0] == (
        "schemas/shop/v1/orders.proto:5: shop.v1.Order.total_cents: FIELD_NO_DELETE: "
        'field 3 deleted: reserve it (reserved 3; reserved "total_cents";)'
    )
    write(
        repo / "schemas",
        ORDERS.replace("  int64 total_cents = 3;\n", '  reserved 3;\n  reserved "total_cents";\n'),
    )
    assert run("--against", "HEAD")[0] == 0


def test_check_defaults_to_the_last_tag(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, ORDERS, tag="v1.0.0")
    write(repo / "schemas", ORDERS.replace("int64 total_cents = 3;", "int64 amount_cents = 3;"))
    git(repo, "commit", "-q", "-am", "rename total")
    schemas = repo / "schemas"
    assert default_against(schemas) == "v1.0.0"
    code, output = run("--schemas", str(schemas))
    assert code == 1
    assert "repo/schemas/shop/v1/orders.proto:8: shop.v1.Order.amount_cents: FIELD_SAME_NAME:" in output
    assert output.splitlines()[-1] == "1 breaking change(s) against v1.0.0"
    assert run("--schemas", str(schemas), "--against", "HEAD")[0] == 0


def test_without_a_tag_the_default_is_head(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, ORDERS)
    assert default_against(repo / "schemas") == "HEAD"
    code, output = run("--schemas", str(repo / "schemas"))
    assert (code, output.split(":")[0]) == (0, "schemas OK against HEAD")


def test_a_ref_without_schemas_treats_every_schema_as_new(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, ORDERS)
    snapshot = load_snapshot("HEAD", repo / "schemas")
    assert [f.name for f in snapshot.descriptor_set.file] == [PATH]
    write(repo / "events", ORDERS)
    assert len(load_snapshot("HEAD", repo / "events").descriptor_set.file) == 0
    assert run("--schemas", str(repo / "events"), "--against", "HEAD")[0] == 0


def test_unreadable_versions_exit_2_with_one_line(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, ORDERS)
    code, output = run("--schemas", str(repo / "schemas"), "--against", "v9")
    assert code == 2
    assert output.strip() == f"error: --against v9: neither a directory nor a git ref of {repo.resolve()}"
    write(tmp_path / "plain", ORDERS)
    with pytest.raises(SchemaHistoryError, match="not inside a git working tree"):
        load_snapshot("HEAD", tmp_path / "plain")
    write(repo / "schemas", ORDERS.replace("int32 quantity", "int33 quantity"))
    code, output = run("--schemas", str(repo / "schemas"), "--against", "HEAD")
    assert code == 2
    assert "int33" in output
    assert len(output.strip().splitlines()) == 1


def test_a_tagged_broken_schema_is_reported_as_unreadable(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, ORDERS.replace("int32 quantity", "int33 quantity"), tag="v0.1.0")
    write(repo / "schemas", ORDERS)
    code, output = run("--schemas", str(repo / "schemas"))
    assert code == 2
    assert output.startswith("error: ")


GEO = """syntax = "proto3";
package geo.v1;

message Point {
  sfixed32 lat_e7 = 1;
  sfixed32 lng_e7 = 2;
}
"""
UNITS = """syntax = "proto3";
package units.v1;

message Weight {
  double grams = 1;
}
"""
SHIPMENT = """syntax = "proto3";
package shop.v1;

import "geo/v1/geo.proto";
import "units/v1/units.proto";

message Shipment {
  string id = 1;
  geo.v1.Point to = 2;
  units.v1.Weight weight = 3;
}
"""


def test_every_root_of_the_project_and_what_it_imports_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project with its schemas, a vendor folder beside them and an installed package's protos outside git."""
    installed = write(tmp_path / "site-packages" / "units_protos", UNITS, "units/v1/units.proto")
    repo = repo_with(tmp_path, SHIPMENT)
    write(repo / "vendor", GEO, "geo/v1/geo.proto")
    (repo / "meshlake.yaml").write_text(f"schemas: [schemas, vendor, {installed}]\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "vendor")
    monkeypatch.chdir(repo)
    assert run()[0] == 0

    write(repo / "vendor", GEO.replace("sfixed32 lat_e7 = 1;", "double lat_e7 = 1;"), "geo/v1/geo.proto")
    code, output = run()

    assert code == 1
    assert output.splitlines()[0] == (
        "vendor/geo/v1/geo.proto:5: geo.v1.Point.lat_e7: FIELD_SAME_TYPE: type changed from sfixed32 to double"
    )
