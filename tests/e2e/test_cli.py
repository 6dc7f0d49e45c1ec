"""The `meshlake` command as a user runs it: real subprocesses, real files, one clear line on bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.paths import MESH as PROJECT_DIR
from tests.paths import REPO

BIN = Path(sys.executable).parent


def run(
    args: list[str], env: dict[str, str], timeout: float = 180, cwd: Path = PROJECT_DIR
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    return base | {"MESHLAKE_HOME": str(tmp_path / "home"), "COLUMNS": "200"}


def readme_dagster_commands() -> list[str]:
    """The README's commands of Dagster's own CLI (`DAGSTER_HOME=... dagster ...`), continuation lines joined."""
    text = (REPO / "README.md").read_text()
    block = text.split("## Using it", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.replace("\\\n", " ").splitlines() if line.startswith("DAGSTER_HOME=")]


def test_the_readme_dagster_cli_commands_materialise_a_domain_and_backfill_then_query(env: dict[str, str]) -> None:
    assert (
        run([str(BIN / "meshlake"), "generate", "--count", "2000", "--files", "2", "--seed", "7"], env).returncode == 0
    )
    dagster_home = Path(env["MESHLAKE_HOME"]) / "dagster"
    dagster_home.mkdir(parents=True)
    shutil.copy(PROJECT_DIR / "dagster.yaml", dagster_home)
    commands = readme_dagster_commands()
    assert len(commands) == 2 and "--select 'group:orders' --partition-range" in commands[0]
    for command in commands:  # a domain in one run (every day of daily_revenue), then a backfill of October
        # As the README has them: from the repository's root (its .venv), here on the tests' own mesh.
        materialize = run(["bash", "-c", command], env | {"MESHLAKE_PROJECT": str(PROJECT_DIR)}, timeout=300, cwd=REPO)
        assert materialize.returncode == 0, materialize.stderr[-3000:]
    out = run([str(BIN / "meshlake"), "query", "SELECT sum(orders) AS n FROM orders.daily_revenue", "-f", "csv"], env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "n"
    assert 1500 < int(lines[1]) < 2000  # every order once; retries, bad events and cancelled orders left out
    table = run([str(BIN / "meshlake"), "query", "SELECT * FROM orders.daily_revenue ORDER BY 1 LIMIT 10"], env)
    assert table.returncode == 0
    assert "revenue" in table.stdout and "2026-10-01" in table.stdout


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_outside_a_project_is_one_clear_error(env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in env.items() if k != "MESHLAKE_HOME"}
    outside = tmp_path / "not-a-project"
    outside.mkdir()
    result = subprocess.run(
        [str(BIN / "meshlake"), "generate", "--count", "10"],
        capture_output=True, text=True, env=env, cwd=outside, timeout=120,
    )  # fmt: skip
    assert "no meshlake project here" in _one_error_line(result)
    assert list(outside.iterdir()) == []  # nothing created


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # a malformed .proto: protoc's message with file and line
        ("string currency = 8;", "string currency = 8", ["orders/v1/orders.proto:", "Expected"]),
        # the domain spec names a message the schemas no longer define
        ("message OrderPlaced {", "message OrderWasPlaced {", ["unknown message", "meshlake.orders.v1.OrderPlaced"]),
    ],
    ids=["malformed-proto", "unknown-message"],
)
def test_schema_problems_are_one_line_naming_what_is_wrong(
    env: dict[str, str], tmp_path: Path, old: str, new: str, expected: list[str]
) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(PROJECT_DIR / "schemas", schemas)
    proto = schemas / "orders" / "v1" / "orders.proto"
    proto.write_text(proto.read_text().replace(old, new))
    env = env | {"MESHLAKE_SCHEMAS": str(schemas)}
    line = _one_error_line(run([str(BIN / "meshlake"), "generate", "--domain", "orders", "--count", "10"], env))
    for part in expected:
        assert part in line
    others = run([str(BIN / "meshlake"), "generate", "--count", "10"], env)  # the other domains still generate
    assert others.returncode == 0, others.stderr
    [warning] = [line for line in others.stderr.splitlines() if "left out" in line]
    assert all(part in warning for part in expected)
    assert "payments:" in others.stdout and "shipping:" in others.stdout


def test_landing_file_that_is_not_protobuf_waits_while_it_may_grow_then_fails_and_changes_no_table(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert run([str(BIN / "meshlake"), "generate", "--count", "300", "--files", "1"], env).returncode == 0
    assert run([str(BIN / "meshlake"), "materialize", "--select", "key:orders/bronze/*"], env).returncode == 0
    home = Path(env["MESHLAKE_HOME"])
    bad = home / "landing" / "orders" / "order_placed" / "zzz-upload.pb"
    bad.write_bytes(b"id;total\n1;2.50\n" * 10)
    # A file written moments ago may still be growing: its unframed bytes wait for the next run.
    waiting = run([str(BIN / "meshlake"), "materialize", "--select", "key:orders/bronze/*"], env)
    assert waiting.returncode == 0, waiting.stderr
    settled = time.time() - 3600  # untouched for longer than the settle time (300 s): it can no longer grow
    os.utime(bad, (settled, settled))

    def data_tables_metadata() -> list[str]:  # the event log records the failure: a table of runs, not of data
        return sorted(p.name for p in (home / "iceberg").rglob("*.json") if "event_log" not in p.parts)

    metadata_before = data_tables_metadata()
    result = run([str(BIN / "meshlake"), "materialize", "--select", "key:orders/bronze/*"], env)
    line = _one_error_line(result)
    assert "orders/order_placed/zzz-upload.pb: byte" in line
    assert "not a varint length-delimited protobuf stream" in line
    assert data_tables_metadata() == metadata_before


def test_schemas_check_exits_non_zero_on_a_breaking_change(env: dict[str, str], tmp_path: Path) -> None:
    old = tmp_path / "old-schemas"
    shutil.copytree(PROJECT_DIR / "schemas", old)
    new = tmp_path / "schemas"
    shutil.copytree(PROJECT_DIR / "schemas", new)
    proto = new / "orders" / "v1" / "orders.proto"
    proto.write_text(proto.read_text().replace("int64 total_cents = 7;", "string total_cents = 7;"))
    cmd = [str(BIN / "meshlake"), "schemas", "check", "--schemas", str(new), "--against", str(old)]
    result = run(cmd, env)
    assert result.returncode == 1
    assert "total_cents: FIELD_SAME_TYPE" in result.stdout + result.stderr
    assert run([*cmd[:-1], str(new)], env).returncode == 0


def test_schemas_check_reports_a_construct_no_table_holds_with_file_and_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(REPO / "tests" / "fixtures" / "unsupported", schemas)
    result = run([str(BIN / "meshlake"), "schemas", "check", "--schemas", str(schemas), "--against", str(schemas)], env)
    assert result.returncode == 1
    assert "legacy/v1/legacy.proto:8: meshlake.legacy.v1.Legacy.result: FIELD_NO_GROUP" in result.stdout
