"""The ODCS export is valid according to datacontract-cli's lint (a real, external validator)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from catalog.model import Column, ProductIn
from tests.catalog.conftest import ORDERS, Seeded

REPO = Path(__file__).resolve().parents[2]
DATACONTRACT_CLI = "datacontract-cli==1.2.8"  # kept out of .venv: it pins typer<0.28 (we use 0.29)


@pytest.fixture(scope="session")
def datacontract(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The datacontract executable: $MESHLAKE_DATACONTRACT, .venv-tools (made by CI), PATH, or a fresh venv."""
    for candidate in (
        os.environ.get("MESHLAKE_DATACONTRACT"),
        str(REPO / ".venv-tools" / "bin" / "datacontract"),
        shutil.which("datacontract"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    venv = tmp_path_factory.mktemp("datacontract-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", DATACONTRACT_CLI]
    subprocess.run(pip, check=True, timeout=600)
    return str(venv / "bin" / "datacontract")


def lint(executable: str, path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "HOME": str(path.parent)}
    return subprocess.run(
        [executable, "lint", str(path)], capture_output=True, text=True, env=env, cwd=path.parent, timeout=120
    )


def test_exported_contract_passes_datacontract_lint(seeded: Seeded, datacontract: str, tmp_path: Path) -> None:
    service = seeded.service
    service.put_product(
        ORDERS,
        "orders.line_items",
        ProductIn(
            description="Every line of every order",
            location="s3://lake/orders/line_items",
            table_format="delta",
            tags=["sales"],
            freshness_sla_minutes=90,
            upstream=["orders.customers"],
            columns=[
                Column(name="order_id", type="string", nullable=False),
                Column(name="placed_at", type="timestamp[us, tz=UTC]"),
                Column(name="quantity", type="int32"),
                Column(name="price", type="decimal128(18, 2)"),
                Column(name="gift", type="bool"),
                Column(name="labels", type="list<item: string>"),
                Column(name="address", type="struct<street: string, city: string>", pii=True),
            ],
        ),
    )
    # One product with every feature (all logical types, PII, SLA, support contact, S3 server,
    # lineage): each lint run costs a second of datacontract-cli start-up.
    path = tmp_path / "orders.line_items.odcs.yaml"
    path.write_text(service.contract(ORDERS, "orders.line_items"))
    result = lint(datacontract, path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "data contract is valid" in result.stdout.lower()


def test_the_validator_rejects_a_broken_contract(seeded: Seeded, datacontract: str, tmp_path: Path) -> None:
    """Proves the lint is a real check: the same export with an unknown logical type fails."""
    document = yaml.safe_load(seeded.service.contract(ORDERS, "orders.daily_revenue"))
    document["schema"][0]["properties"][0]["logicalType"] = "calendar_day"
    path = tmp_path / "broken.odcs.yaml"
    path.write_text(yaml.safe_dump(document))
    result = lint(datacontract, path)
    assert result.returncode != 0
    assert "calendar_day" in result.stdout + result.stderr
