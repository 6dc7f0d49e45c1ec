"""Log lines of the command line as people and log shippers read them: `--log-level` and
`MESHLAKE_LOG_FORMAT=json` on every command, each commit, quarantine and publish with its domain, asset,
run id and table version, and no secret in any line or in `meshlake config`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.paths import LINEAGE
from tests.processes import stopped

MESHLAKE = str(Path(sys.executable).parent / "meshlake")
SECRET = "Zq9-never-in-a-log"


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MESHLAKE, *args], capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_", "OPENLINEAGE"))}
    return base | {"MESHLAKE_PROJECT": str(LINEAGE), "MESHLAKE_HOME": str(tmp_path / "home"), "COLUMNS": "200"}


def test_materialize_logs_each_commit_quarantine_and_publish_as_json(env: dict[str, str], tmp_path: Path) -> None:
    assert run(["generate", "-n", "30", "--seed", "1", "--files", "1"], env, tmp_path).returncode == 0
    broken = tmp_path / "home" / "landing" / "shop" / "sale_made" / "broken.pb"
    broken.write_bytes(bytes([3]) + b"\xff\xff\xff")  # one framed payload that is not a SaleMade
    done = run(["materialize", "--log-level", "info"], env | {"MESHLAKE_LOG_FORMAT": "json"}, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # every line is a JSON object
    events = {(line["event"], line["table"]): line for line in lines if "event" in line}
    assert set(events) == {
        ("quarantine", "shop.quarantine"),
        ("commit", "shop.bronze_sale_made"),
        ("commit", "shop.silver_sales"),
        ("commit", "shop.daily_sales"),
        ("publish", "shop.daily_sales"),
    }, lines
    assert {e["domain"] for e in events.values()} == {"shop"}
    assert len({e["run_id"] for e in events.values()}) == 1
    assert events["commit", "shop.bronze_sale_made"]["asset"] == "shop/bronze/sale_made"
    assert events["commit", "shop.bronze_sale_made"]["rows"] == 30
    assert events["quarantine", "shop.quarantine"]["rows"] == 1
    assert events["quarantine", "shop.quarantine"]["reasons"] == {"decode": 1}
    gold = events["commit", "shop.daily_sales"]
    assert gold["asset"] == "shop/gold/daily_sales"
    assert isinstance(gold["version"], int)
    assert gold["candidate"] is True  # write-audit-publish: the build commits a candidate, the audit publishes it
    assert events["publish", "shop.daily_sales"]["candidate"] == gold["version"]

    quiet = run(["--log-level", "warning", "materialize"], env | {"MESHLAKE_LOG_FORMAT": "json"}, tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert [line for line in quiet.stderr.splitlines() if '"level": "info"' in line] == []


def test_with_json_logs_every_line_on_stderr_is_json_errors_and_warnings_too(
    env: dict[str, str], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(LINEAGE, project)
    (project / "domains" / "broken").mkdir()
    (project / "domains" / "broken" / "domain.yaml").write_text("name: broken\n")  # left out, with a warning
    env = env | {"MESHLAKE_PROJECT": str(project), "MESHLAKE_LOG_FORMAT": "json"}
    said = {
        "warning": run(["events"], env, tmp_path),
        "data error": run(["query", "SELECT 1"], env, tmp_path),  # nothing materialised yet
        "usage error": run(["events", "--kind", "nope"], env, tmp_path),
        "bad global option": run(["--log-level", "loud", "config"], env, tmp_path),
        "no such command": run(["nosuch"], env, tmp_path),
        "token": run(["catalog", "token", "create", "--principal", "admin", "--kind", "admin"], env, tmp_path),
        "catalog error": run(["catalog", "grant", "shop.nothing", "someone"], env, tmp_path),
    }
    assert {what: done.returncode for what, done in said.items()} == {
        "warning": 0, "data error": 1, "usage error": 2, "bad global option": 2, "no such command": 2,
        "token": 0, "catalog error": 1,
    }  # fmt: skip
    lines = {what: [json.loads(line) for line in done.stderr.splitlines()] for what, done in said.items()}
    said_as = {what: [(line["level"], line["message"]) for line in found] for what, found in lines.items()}
    assert said_as["warning"][0][0] == "warning" and "domain left out: " in said_as["warning"][0][1]
    assert "broken/domain.yaml: owner: Field required" in said_as["warning"][0][1]
    assert said_as["data error"][-1][0] == "error" and "meshlake materialize" in said_as["data error"][-1][1]
    assert said_as["usage error"][-1][0] == "error" and "unknown kind(s) nope" in said_as["usage error"][-1][1]
    assert said_as["bad global option"] == [("error", said_as["bad global option"][0][1])]
    assert "'loud' is not one of" in said_as["bad global option"][0][1]
    assert said_as["no such command"][-1][0] == "error" and "nosuch" in said_as["no such command"][-1][1]
    assert said_as["token"][-1] == ("info", "token for admin 'admin' (shown once):")
    assert said["token"].stdout.strip() and said["token"].stdout.strip() not in said["token"].stderr
    assert said_as["catalog error"][-1][0] == "error" and "shop.nothing" in said_as["catalog error"][-1][1]
    text = run(["events", "--kind", "nope"], env | {"MESHLAKE_LOG_FORMAT": "text"}, tmp_path)
    assert "Usage:" in text.stderr and "unknown kind(s) nope" in text.stderr  # click's message, for people


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_secret_in_any_log_line_error_or_config(env: dict[str, str], tmp_path: Path, fmt: str) -> None:
    secrets = {
        "MESHLAKE_S3_SECRET_ACCESS_KEY": f"s3-{SECRET}",
        "AWS_SESSION_TOKEN": f"session-{SECRET}",
        "MESHLAKE_CATALOG_TOKEN": f"token-{SECRET}",
        "MESHLAKE_NATS_URL": f"nats://ingest:nats-{SECRET}@127.0.0.1:{_closed_port()}",
        "MESHLAKE_DAGSTER_POSTGRES_URL": f"postgresql://dagster:pg-{SECRET}@127.0.0.1:{_closed_port()}/dagster",
    }
    env = env | secrets | {"MESHLAKE_LOG_FORMAT": fmt}
    shown = [
        run(["--log-level", "debug", "config"], env, tmp_path),
        run(["config", "--json"], env, tmp_path),
        run(["--verbose", "publish", "--domain", "shop", "-n", "5"], env, tmp_path),  # NATS refuses
        run(["--verbose", "materialize"], env, tmp_path),  # Dagster's PostgreSQL refuses
    ]
    assert [done.returncode for done in shown] == [0, 0, 1, 1], [d.stderr[-2000:] for d in shown]
    for done in shown:
        assert SECRET not in done.stdout + done.stderr, done.args
    assert "nats://ingest:********@127.0.0.1" in shown[0].stdout


def test_the_catalog_server_writes_its_lines_as_json(env: dict[str, str], tmp_path: Path) -> None:
    port = _closed_port()
    proc = subprocess.Popen(
        [MESHLAKE, "catalog", "serve", "--port", str(port)],
        env=env | {"MESHLAKE_LOG_FORMAT": "json"},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail(f"the catalog did not start: {proc.communicate(timeout=10)[1]!r}")
                time.sleep(0.1)
    finally:
        stderr = stopped(proc)[1]
    lines = [json.loads(line) for line in stderr.splitlines()]  # every line: a log collector reads them all
    assert any(line["logger"] == "uvicorn.error" and "Uvicorn running" in line["message"] for line in lines), stderr
    assert any(line["logger"] == "uvicorn.access" and "/api/health" in line["message"] for line in lines), stderr
    # what the command says to people, where it listens, as log lines of its own
    assert [line["message"] for line in lines if line["logger"] == "catalog.cli"] == [
        "no tokens yet: meshlake catalog token create --principal admin --kind admin",
        f"catalog on http://127.0.0.1:{port}/ (OpenAPI: /docs)",
        f"Iceberg REST catalog on http://127.0.0.1:{port}/iceberg",
    ]
