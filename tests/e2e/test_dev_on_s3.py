"""`make dev STORAGE=s3` as the Makefile runs it: SeaweedFS under the home, the Dagster UI and the catalog answer,
a landing sensor ingests events put in the bucket, the tables it writes are on s3:// (none under the home), a
pyiceberg client with only the catalog's Iceberg REST URI and a token reads as a reader and writes its own namespace
with the scoped keys the catalog vends, and Ctrl-C stops everything, SeaweedFS included."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.exceptions import ForbiddenError
from pyiceberg.table import Table

from pipelines.adapters.storage import S3Options, StorageOptions, open_location
from tests.e2e.test_dagster_ui import (
    BIN,
    DONE,
    LANDING_SENSORS,
    Dev,
    free_port,
    kill_group,
    processes_mentioning,
    wait_for,
)
from tests.paths import MESH, REPO

DENIED = r"AccessDenied|ACCESS_DENIED"
URI = '{ assetOrError(assetKey: {path: ["orders", "bronze", "order_placed"]}) { ... on Asset { assetMaterializations(limit: 1) { metadataEntries { label ... on TextMetadataEntry { text } } } } } }'  # noqa: E501


@pytest.fixture
def dev_s3(tmp_path: Path) -> Iterator[Dev]:
    """`make dev STORAGE=s3` on free ports (the venv's install taken as done: `-o`), its home under tmp_path."""
    (tmp_path / "t").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_", "AWS_"))}
    env |= {"MESHLAKE_HOME": str(tmp_path / "home"), "MESHLAKE_PROJECT": str(MESH), "TMPDIR": str(tmp_path / "t")}
    port, catalog_port = free_port(), free_port()
    make = ["make", "-C", str(REPO), "-o", ".venv/.dev", "-o", ".venv/bin/meshlake", "dev", "STORAGE=s3"]
    make += [f"PORT={port}", f"CATALOG_PORT={catalog_port}", f"BIN={BIN}"]
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            make, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    server = Dev(process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{catalog_port}", log)
    try:
        server.wait_until_ready(timeout_s=240)
        yield server
    finally:
        kill_group(process)


def _store(dev: Dev, home: Path) -> StorageOptions:
    """How to reach the SeaweedFS `make dev` started: the endpoint it printed, the identity it wrote."""
    endpoint = re.search(r"S3:\s+(http://127\.0\.0\.1:\d+)", dev.log.read_text())
    assert endpoint, dev.log.read_text()
    identity = json.loads((home / "seaweedfs" / "s3-identities.json").read_text())["identities"][0]["credentials"][0]
    key, secret = identity["accessKey"], identity["secretKey"]
    return StorageOptions(S3Options(endpoint=endpoint.group(1), access_key_id=key, secret_access_key=secret))


def test_make_dev_storage_s3(dev_s3: Dev, tmp_path: Path) -> None:
    home = tmp_path / "home"
    options = _store(dev_s3, home)
    assert httpx.get(f"{dev_s3.ui}/server_info", timeout=10).status_code == 200
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_", "AWS_"))}
    env |= {
        "MESHLAKE_HOME": str(home),
        "MESHLAKE_PROJECT": str(MESH),
        "MESHLAKE_LANDING": "s3://meshlake/landing",
        "MESHLAKE_S3_ENDPOINT": str(options.s3.endpoint),
        "MESHLAKE_S3_ACCESS_KEY_ID": str(options.s3.access_key_id),
        "MESHLAKE_S3_SECRET_ACCESS_KEY": str(options.s3.secret_access_key),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    generate = [str(BIN / "meshlake"), "generate", "--domain", "orders", "--count", "1000", "--files", "1"]
    subprocess.run(generate, env=env, check=True, capture_output=True, cwd=tmp_path, timeout=180)

    # the daemon's landing sensors find the objects in the bucket and run bronze
    wait_for(lambda: {r["tags"].get("dagster/sensor_name") for r in dev_s3.runs()} >= LANDING_SENSORS, 240)
    sensed = [r for r in dev_s3.runs() if r["tags"].get("dagster/sensor_name") in LANDING_SENSORS]
    ids = {r["runId"] for r in sensed}
    wait_for(lambda: all(r["status"] in DONE for r in _of(dev_s3, ids)), 300)
    assert {r["status"] for r in _of(dev_s3, ids)} == {"SUCCESS"}

    entries = dev_s3.graphql(URI)["assetOrError"]["assetMaterializations"][0]["metadataEntries"]
    uri = next(e["text"] for e in entries if e["label"] == "dagster/uri")
    assert uri.startswith("s3://meshlake/warehouse/iceberg/orders/bronze_order_placed/metadata/"), uri
    warehouse = open_location("s3://meshlake/warehouse/iceberg", options)
    tables = {f.uri.split("/")[6] for f in warehouse.list_files("orders") if f.uri.endswith(".parquet")}
    assert {"bronze_order_placed", "bronze_order_cancelled", "bronze_order_item_returned"} <= tables, tables
    assert not (home / "warehouse").exists() and not (home / "landing").exists()
    _rest_clients_get_scoped_keys(dev_s3, env, tmp_path)

    os.killpg(dev_s3.process.pid, signal.SIGINT)  # Ctrl-C in the terminal make runs in (make dies of it)
    assert dev_s3.process.wait(timeout=90) in (0, -signal.SIGINT), dev_s3.log.read_text()[-3000:]
    log = dev_s3.log.read_text()
    assert "stopping dagster, catalog, then seaweedfs" in log, log[-3000:]
    assert "cannot reach the store" not in log, log[-3000:]  # the storage outlives what uses it
    assert processes_mentioning(str(home)) == set(), "processes left behind"


def _token(env: dict[str, str], cwd: Path, principal: str) -> str:
    create = [str(BIN / "meshlake"), "catalog", "token", "create", "--principal", principal, "--kind", "domain"]
    return subprocess.run(
        create, env=env, check=True, capture_output=True, text=True, cwd=cwd, timeout=60
    ).stdout.strip()


def _put(table: Table, location: str) -> None:
    with table.io.new_output(location).create(overwrite=True) as out:
        out.write(b"x")


def _rest_clients_get_scoped_keys(dev: Dev, env: dict[str, str], cwd: Path) -> None:
    """A client given only the REST URI and a token: orders reads and writes its namespace with its own key (refused
    elsewhere), shipping reads orders' granted product with the read-only key (refused writing), never the
    warehouse's key."""
    keys = json.loads((Path(env["MESHLAKE_HOME"]) / "seaweedfs" / "s3-keys.json").read_text())
    uri = f"{dev.catalog}/iceberg"
    orders = RestCatalog("dev", uri=uri, token=_token(env, cwd, "orders"))
    bronze = orders.load_table("orders.bronze_order_placed")
    assert bronze.io.properties["s3.access-key-id"] == keys["domain:orders"][0]
    assert bronze.scan().to_arrow().num_rows > 0

    notes = orders.create_table("orders.rest_notes", pa.schema([pa.field("note", pa.string())]))
    notes.append(pa.table({"note": ["written through the vended key"]}))
    assert orders.load_table("orders.rest_notes").scan().to_arrow().column("note").to_pylist() == [
        "written through the vended key"
    ]
    assert notes.location() == "s3://meshlake/warehouse/iceberg/orders/rest_notes"
    with pytest.raises(OSError, match=DENIED):
        _put(notes, "s3://meshlake/warehouse/iceberg/shipping/planted.bin")

    shipping = RestCatalog("dev", uri=uri, token=_token(env, cwd, "shipping"))
    with pytest.raises(ForbiddenError):
        shipping.load_table("orders.bronze_order_placed")
    # silver and gold follow bronze by declarative automation; order_facts is granted to shipping
    wait_for(lambda: ("orders", "order_facts") in shipping.list_tables("orders"), 300)
    facts = shipping.load_table("orders.order_facts")
    assert facts.io.properties["s3.access-key-id"] == keys["reader"][0]
    assert facts.scan().to_arrow().num_rows > 0
    with pytest.raises(OSError, match=DENIED):
        _put(facts, f"{facts.location()}/data/planted.bin")


def _of(dev: Dev, ids: set[str]) -> list[dict[str, Any]]:
    return [r for r in dev.runs() if r["runId"] in ids]
