"""How `meshlake` fails, as a user sees it: usage errors exit 2 with click's message and a hint, data
errors exit 1 with one line (the traceback only with --verbose), Ctrl-C exits 130 quietly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.paths import MESH

BIN = Path(sys.executable).parent
MESHLAKE = str(BIN / "meshlake")


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MESHLAKE, *args], capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    return base | {"MESHLAKE_PROJECT": str(MESH), "MESHLAKE_HOME": str(tmp_path / "home"), "COLUMNS": "200"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["materialize", "--bogus"], "No such option: --bogus"),
        (["query"], "Missing argument 'sql'"),
        (["generate", "--compression", "xx"], "Invalid value for '--compression'"),
        (["generate", "--count", "abc"], "Invalid value for '--count'"),
        (["generate", "--domain", "nosuch"], "Invalid value for '--domain'"),
        (["query", "SELECT 1", "--format", "bogus"], "Invalid value for '--format'"),
        (["catalog", "grant"], "Missing argument 'product'"),
        (["catalog", "grant", "orders.daily_revenue"], "Missing argument 'consumer'"),
        (["catalog", "token", "create", "--kind", "nobody", "--principal", "x"], "Invalid value for '--kind'"),
        (["quarantine", "replay"], "Missing option '--domain'"),
        (["nosuchcommand"], "No such command 'nosuchcommand'"),
    ],
)
def test_usage_errors_exit_2_with_one_error_line_and_a_hint(
    env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    result = run(args, env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Usage: meshlake")
    assert any(line.startswith("Try 'meshlake") and "--help" in line for line in lines)
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert len(lines) <= 4
    assert not (tmp_path / "home").exists()


def test_no_arguments_prints_the_help(env: dict[str, str], tmp_path: Path) -> None:
    result = run([], env, tmp_path)
    assert "Traceback" not in result.stdout + result.stderr
    assert "materialize" in result.stdout + result.stderr
    assert result.returncode in (0, 2)


def test_a_data_error_is_one_line_and_verbose_adds_the_traceback(env: dict[str, str], tmp_path: Path) -> None:
    assert run(["catalog", "token", "create", "--principal", "admin", "--kind", "admin"], env, tmp_path).returncode == 0
    plain = run(["catalog", "show", "orders.nothing"], env, tmp_path)
    assert plain.returncode == 1
    assert "Traceback" not in plain.stdout + plain.stderr
    lines = plain.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "orders.nothing" in lines[0]
    verbose = run(["--verbose", "catalog", "show", "orders.nothing"], env, tmp_path)
    assert verbose.returncode == 1
    assert "Traceback" in verbose.stderr and "orders.nothing" in verbose.stderr.strip().splitlines()[-1]


def test_a_query_error_is_one_line_and_verbose_adds_the_traceback(env: dict[str, str], tmp_path: Path) -> None:
    query = "SELECT * FROM orders.daily_revenue"
    assert run(["generate", "--count", "10", "--files", "1"], env, tmp_path).returncode == 0
    plain = run(["query", query], env, tmp_path)
    assert plain.returncode == 1
    assert "Traceback" not in plain.stdout + plain.stderr
    assert len(plain.stderr.strip().splitlines()) == 1, plain.stderr
    verbose = run(["--verbose", "query", query], env, tmp_path)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_ctrl_c_exits_130_without_a_traceback(env: dict[str, str], tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [MESHLAKE, "generate", "--count", "5000000", "--domain", "orders"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    time.sleep(5)  # at work: generating 5M events takes minutes
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in stdout + stderr


def test_a_server_binary_that_is_missing_is_one_line_naming_how_to_get_it(env: dict[str, str], tmp_path: Path) -> None:
    not_there = tmp_path / "weed"
    result = run(["demo", "--events", "100", "--storage", "s3"], env | {"MESHLAKE_WEED": str(not_there)}, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and f"{not_there} is not an executable file" in lines[0], result.stderr
    assert "MESHLAKE_WEED" in lines[0]


@pytest.mark.parametrize("command", [["demo", "--events", "100"], ["dev", "--port", "1", "--catalog-port", "2"]])
def test_a_seaweedfs_that_does_not_start_is_one_line_naming_why_and_its_log(
    env: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    broken = tmp_path / "weed"  # a weed that fails as a real one does when its port is taken
    broken.write_text("#!/bin/sh\necho 'F1207 listen tcp 127.0.0.1:9333: bind: address already in use'\nexit 1\n")
    broken.chmod(0o755)
    env = env | {"MESHLAKE_WEED": str(broken)}
    result = run([*command, "--storage", "s3"], env, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    log = tmp_path / "home" / "seaweedfs" / "weed.log"
    assert "SeaweedFS" in lines[0] and "exited with code 1" in lines[0] and str(log) in lines[0], result.stderr
    assert "bind: address already in use" in lines[0]
    verbose = run(["--verbose", *command, "--storage", "s3"], env, tmp_path)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr, verbose.stderr
