"""`meshlake catalog …` commands, on the database directly and against a live service."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner, Result

from catalog.cli import app
from catalog.service import CatalogService
from tests.catalog.conftest import Seeded
from tests.processes import stopped

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})
    return result


@pytest.mark.usefixtures("seeded")
def test_list_search_show_contract_on_the_database(db_url: str) -> None:
    listed = run("list", "--db", db_url, "--json")
    assert listed.exit_code == 0, listed.output
    assert [p["name"] for p in json.loads(listed.stdout)] == [
        "orders.customers",
        "orders.daily_revenue",
        "shipping.deliveries",
    ]
    found = run("search", "revenue", "--db", db_url, "--column", "country", "--json")
    assert [p["name"] for p in json.loads(found.stdout)] == ["orders.daily_revenue"]
    shown = run("show", "orders.daily_revenue", "--db", db_url)
    assert shown.exit_code == 0
    assert "team-orders" in shown.stdout and "customer_email" in shown.stdout and "PII" in shown.stdout
    contract = run("contract", "orders.daily_revenue", "--db", db_url)
    assert yaml.safe_load(contract.stdout)["id"] == "orders.daily_revenue"
    unknown = run("show", "orders.nothing", "--db", db_url)
    assert unknown.exit_code == 1 and unknown.stderr.startswith("error:") and "orders.nothing" in unknown.stderr
    bad_token = run("list", "--db", db_url, "--token", "not-a-token")  # refused while opening
    assert bad_token.exit_code == 1 and bad_token.stderr.startswith("error:")


def test_grant_and_revoke_are_audited_as_the_local_user(seeded: Seeded, db_url: str) -> None:
    assert run("grant", "orders.daily_revenue", "analyst", "--db", db_url).exit_code == 0
    again = run("grant", "orders.daily_revenue", "analyst", "--db", db_url)
    assert "already granted" in again.stdout
    assert "orders.daily_revenue" in seeded.service.readable_products(
        seeded.service.authenticate(seeded.tokens["analyst"])
    )
    assert run("revoke", "orders.daily_revenue", "analyst", "--db", db_url).exit_code == 0
    missing = run("revoke", "orders.daily_revenue", "analyst", "--db", db_url)
    assert missing.exit_code == 1 and "no grant" in missing.stderr
    entry = seeded.service.audit(seeded.service.authenticate(seeded.tokens["admin"]), limit=1)[0]
    assert entry.action == "grant.revoke" and entry.principal.startswith("local:")
    log = run("audit", "--subject", "orders.daily_revenue", "--limit", "2", "--db", db_url)
    assert log.exit_code == 0 and "grant.revoke" in log.stdout and "grant.create" in log.stdout


def test_commands_over_http_use_the_token(live: str, seeded: Seeded) -> None:
    env = {"MESHLAKE_CATALOG_URL": live, "MESHLAKE_CATALOG_TOKEN": seeded.tokens["shipping"]}
    listed = run("list", "--json", env=env)
    assert [p["name"] for p in json.loads(listed.stdout)] == ["orders.customers", "shipping.deliveries"]
    denied = run("show", "orders.daily_revenue", env=env)
    assert denied.exit_code == 1 and "403" in denied.stderr and "no grant" in denied.stderr
    forbidden = run("grant", "orders.daily_revenue", "shipping", env=env)
    assert forbidden.exit_code == 1 and "403" in forbidden.stderr
    owner = {**env, "MESHLAKE_CATALOG_TOKEN": seeded.tokens["orders"]}
    assert run("grant", "orders.daily_revenue", "shipping", env=owner).exit_code == 0
    assert run("show", "orders.daily_revenue", env=env).exit_code == 0
    no_token = run("list", "--url", live)
    assert no_token.exit_code != 0


def test_token_create_list_revoke(db_url: str) -> None:
    created = run("token", "create", "--principal", "orders", "--db", db_url)
    assert created.exit_code == 0
    token = created.stdout.strip()
    assert token.startswith("mlk_") and "shown once" in created.stderr
    service = CatalogService.open(db_url)
    assert service.authenticate(token).name == "orders"
    listed = run("token", "list", "--db", db_url)
    assert "orders" in listed.stdout and token not in listed.stdout
    assert run("token", "revoke", "1", "--db", db_url).exit_code == 0
    assert "revoked" in run("token", "list", "--db", db_url).stdout
    bad = run("token", "create", "--principal", "Bad Name", "--db", db_url)
    assert bad.exit_code == 1 and "principal" in bad.stderr
    service.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_migrates_and_listens_on_loopback(tmp_path: Path) -> None:
    port = _free_port()
    db = f"sqlite:///{tmp_path / 'served' / 'catalog.db'}"
    env = {**os.environ, "MESHLAKE_CATALOG_DB": db, "MESHLAKE_HOME": str(tmp_path)}
    code = "from catalog.cli import app; app()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180  # importing the service under load ~25 once took over 60 s
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).json()
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()  # its output ends only when it does: read it after
                    pytest.fail(f"the catalog did not start: {proc.communicate(timeout=10)[0]!r}")
                time.sleep(0.1)
        assert health == {"status": "ok", "schema_revision": "0004"}
        assert (tmp_path / "served" / "catalog.db").is_file()
        assert httpx.get(f"http://127.0.0.1:{port}/api/products").status_code == 401
        # the query endpoint is plugged in by entry point: it exists and wants a token too
        assert httpx.post(f"http://127.0.0.1:{port}/api/query", json={"sql": "SELECT 1"}).status_code == 401
        # and the Iceberg REST catalog, in the spec's error model
        refused = httpx.get(f"http://127.0.0.1:{port}/iceberg/v1/config")
        assert (refused.status_code, refused.json()["error"]["type"]) == (401, "NotAuthorizedException")
    finally:
        output = stopped(proc, 10)[0].decode()
    assert f"Iceberg REST catalog on http://127.0.0.1:{port}/iceberg" in output
