"""`meshlake engine start|stop`: a Sail server that outlives the command, found again by `stop`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.adapters.server_process import free_port
from tests.paths import MESH

MESHLAKE = str(Path(sys.executable).parent / "meshlake")

pytestmark = pytest.mark.xdist_group("sail")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MESHLAKE, "engine", *args], capture_output=True, text=True, env=env, timeout=120)


def _listening(url: str) -> bool:
    host, port = url.removeprefix("sc://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return True


def test_start_prints_the_url_to_use_and_stop_stops_that_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHLAKE_")}
    env |= {"MESHLAKE_PROJECT": str(MESH), "MESHLAKE_HOME": str(tmp_path / "home")}
    started = run("start", env=env)
    assert started.returncode == 0, started.stderr
    record = json.loads((tmp_path / "home" / "engine" / "sail.json").read_text())
    try:
        assert f"export MESHLAKE_ENGINE=spark MESHLAKE_SPARK_URL={record['url']}" in started.stdout
        assert _listening(record["url"])  # the command has exited; the server runs on
        again = run("start", env=env)
        assert (again.returncode, again.stderr.count("\n")) == (1, 1)
        assert f"Sail already runs at {record['url']}" in again.stderr
    finally:
        stopped = run("stop", env=env)
    assert stopped.returncode == 0 and f"stopped Sail at {record['url']}" in stopped.stdout
    deadline = time.monotonic() + 20
    while _listening(record["url"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _listening(record["url"])
    twice = run("stop", env=env)
    assert twice.returncode == 1 and "no Sail server started by `meshlake engine start`" in twice.stderr


def test_a_build_on_an_unreachable_engine_fails_materialize_with_one_line_naming_the_asset(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    env |= {"MESHLAKE_PROJECT": str(MESH), "MESHLAKE_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    generated = subprocess.run([MESHLAKE, "generate", "--count", "100", "--files", "1", "--domain", "payments"],
                               capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    url = f"sc://127.0.0.1:{free_port()}"
    on_engine = env | {"MESHLAKE_ENGINE": "spark", "MESHLAKE_SPARK_URL": url}
    refused = f"Spark Connect at {url} failed: failed to connect to all addresses; last error: UNKNOWN: "
    refused += f"ipv4:{url.removeprefix('sc://')}: Failed to connect to remote host: Connection refused"

    def materialize(selection: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([MESHLAKE, "materialize", "--select", selection], capture_output=True, text=True,
                              env=env, timeout=300)  # fmt: skip

    first = materialize("group:payments", on_engine)  # bronze lands; silver's first build is a rebuild: on the engine
    assert first.returncode == 1
    assert first.stderr.strip().splitlines() == [f"error: payments/silver/payments: {refused}"]
    silver = materialize("key:payments/silver/*", env)  # built embedded, so that gold is next
    assert silver.returncode == 0, silver.stderr
    gold = materialize("key:payments/gold/*", on_engine)
    assert gold.returncode == 1
    assert gold.stderr.strip().splitlines() == [f"error: payments/gold/settlement_summary: {refused}"]


def test_start_gives_the_server_the_s3_store_and_no_other_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "AWS_", "PYICEBERG_"))}
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens: the server reads no table here
    env |= {
        "MESHLAKE_PROJECT": str(MESH), "MESHLAKE_HOME": str(tmp_path / "home"),
        "MESHLAKE_WAREHOUSE": "s3://lake/warehouse", "MESHLAKE_S3_ENDPOINT": endpoint,
        "MESHLAKE_S3_ACCESS_KEY_ID": "warehouse-key", "MESHLAKE_S3_SECRET_ACCESS_KEY": "warehouse-secret-1",
        "MESHLAKE_ICEBERG_CATALOG_URI": "postgresql://meshlake:pg-password-1@127.0.0.1:5432/iceberg",
        "PYICEBERG_CATALOG__LAKE__TOKEN": "mlk_admin_of_pyiceberg",
    }  # fmt: skip
    started = run("start", env=env)
    assert started.returncode == 0, started.stderr
    record = json.loads((tmp_path / "home" / "engine" / "sail.json").read_text())
    try:
        text = Path(f"/proc/{record['pid']}/environ").read_bytes().decode()
    finally:
        stopped = run("stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    server = dict(entry.split("=", 1) for entry in text.split("\0") if "=" in entry)
    assert server["AWS_ENDPOINT"] == endpoint and server["AWS_EC2_METADATA_DISABLED"] == "true"
    assert (server["AWS_ACCESS_KEY_ID"], server["AWS_SECRET_ACCESS_KEY"]) == ("warehouse-key", "warehouse-secret-1")
    others = {name: value for name, value in server.items() if not name.startswith("AWS_")}
    for secret in ("warehouse-secret-1", "pg-password-1", "mlk_admin_of_pyiceberg"):
        assert not [name for name, value in others.items() if secret in value]
