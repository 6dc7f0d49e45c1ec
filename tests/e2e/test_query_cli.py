"""`meshlake query` and `meshlake products` as a user runs them: real subprocesses on a real lake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.model import DomainIn, Principal, PrincipalKind, ProductIn
from catalog.service import CatalogService
from pipelines.adapters.table_stores import open_table_store
from pipelines.core.names import TableId
from tests.paths import MESH as PROJECT_DIR

BIN = Path(sys.executable).parent
REVENUE = TableId("orders", "daily_revenue")


def _revenue(days: int) -> pa.Table:
    return pa.table(
        {
            "day": pa.array([date(2026, 5, d + 1) for d in range(days) for _ in range(2)], pa.date32()),
            "country": ["DE", "FR"] * days,
            "revenue": pa.array([Decimal(f"{10 * (i + 1)}.50") for i in range(2 * days)], pa.decimal128(18, 2)),
        }
    )


@dataclass
class Home:
    env: dict[str, str]
    first_version: int


def build_home(root: Path, fmt: str) -> Home:
    """orders.daily_revenue written twice (2 days, then 3), registered private in the catalog."""
    store = open_table_store(fmt, root)
    store.ensure_table(REVENUE, _revenue(1).schema)
    first = store.overwrite(REVENUE, _revenue(2))
    store.overwrite(REVENUE, _revenue(3))
    silver = TableId("orders", "silver_orders")
    store.ensure_table(silver, pa.schema([("order_id", pa.string())]))
    catalog = CatalogService.open(f"sqlite:///{root / 'catalog' / 'catalog.db'}")
    admin = Principal(name="admin", kind=PrincipalKind.ADMIN)
    catalog.put_domain(admin, "orders", DomainIn(owner="team-orders"))
    catalog.put_product(admin, str(REVENUE), ProductIn(description="Revenue by day", public=False))
    catalog.close()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    env = base | {"MESHLAKE_HOME": str(root), "MESHLAKE_FORMAT": fmt, "COLUMNS": "200"}
    return Home(env, first.version)


@pytest.fixture(scope="module", params=["iceberg", "delta"])
def home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Home:
    return build_home(tmp_path_factory.mktemp(f"cli-{request.param}") / "home", request.param)


@pytest.fixture(scope="module")
def iceberg_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """For what does not depend on the table format."""
    return build_home(tmp_path_factory.mktemp("cli-errors") / "home", "iceberg")


def meshlake(home: Home, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "meshlake"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=home.env | env, timeout=120, cwd=PROJECT_DIR)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_csv_json_and_table_output(home: Home) -> None:
    sql = "SELECT day, country, revenue FROM orders.daily_revenue ORDER BY day, country LIMIT 2"
    csv = meshlake(home, "query", sql, "--format", "csv")
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.splitlines() == ["day,country,revenue", "2026-05-01,DE,10.50", "2026-05-01,FR,20.50"]
    as_json = meshlake(home, "query", sql, "-f", "json")
    assert json.loads(as_json.stdout)[1] == {"day": "2026-05-01", "country": "FR", "revenue": "20.50"}
    table = meshlake(home, "query", sql)
    assert table.returncode == 0
    assert "revenue" in table.stdout and "2026-05-01" in table.stdout and "20.50" in table.stdout


def test_parquet_goes_to_the_output_file(home: Home, tmp_path: Path) -> None:
    target = tmp_path / "answer.parquet"
    result = meshlake(home, "query", "SELECT * FROM orders.daily_revenue", "-f", "parquet", "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert pq.read_table(target).num_rows == 6
    assert "6 row(s) written to" in result.stderr


def test_as_of_reads_an_earlier_version(home: Home) -> None:
    sql = "SELECT count(*) AS n FROM orders.daily_revenue"
    for as_of in (str(home.first_version), f"orders.daily_revenue={home.first_version}"):
        result = meshlake(home, "query", sql, "-f", "csv", "--as-of", as_of)
        assert result.stdout.splitlines() == ["n", "4"], result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["SELECT * FROM orders.silver_orders"], "silver table, internal to domain 'orders'"),
        (["ATTACH 'x.db'"], "only SELECT (or WITH ... SELECT) is allowed, not ATTACH"),
        (["SELECT * FROM read_csv('/etc/passwd')"], "table function(s) read_csv not allowed"),
        (["SELECT 1", "--as-of", "last tuesday"], "--as-of: as-of 'last tuesday' is neither a version"),
        (["SELECT 1", "--format", "parquet"], "--format parquet is binary: give --output FILE"),
        (["SELECT * FROM orders.daily_revenue", "--as-of", "2000-01-01"], "no version at or before 2000-01-01"),
    ],
)
def test_bad_input_is_one_clear_line(iceberg_home: Home, args: list[str], expected: str) -> None:
    assert expected in one_error_line(meshlake(iceberg_home, "query", *args))


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELEC 1", ['error: Parser Error: syntax error at or near "SELEC"', "LINE 1: SELEC 1"]),
        ("SELECT nope FROM orders.daily_revenue", ['error: Binder Error: Referenced column "nope" not found']),
    ],
)
def test_sql_errors_show_duckdbs_own_message(iceberg_home: Home, sql: str, expected: list[str]) -> None:
    result = meshlake(iceberg_home, "query", sql)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(expected[0])
    assert all(part in result.stderr for part in expected)


def test_a_principal_sees_only_its_grants(iceberg_home: Home) -> None:
    home = iceberg_home
    refused = meshlake(home, "query", "SELECT * FROM orders.daily_revenue", "--principal", "marketing")
    line = one_error_line(refused)
    assert "principal 'marketing' may not read orders.daily_revenue" in line and "team-orders" in line
    own = meshlake(
        home, "query", "SELECT count(*) AS n FROM orders.daily_revenue", "-f", "csv", MESHLAKE_PRINCIPAL="orders"
    )
    assert own.stdout.splitlines() == ["n", "6"], own.stderr


def test_products_lists_what_can_be_queried(iceberg_home: Home) -> None:
    home = iceberg_home
    listed = meshlake(home, "products")
    assert listed.returncode == 0, listed.stderr
    assert "orders.daily_revenue" in listed.stdout and "team-orders" in listed.stdout
    found = json.loads(meshlake(home, "products", "--json").stdout)
    revenue = next(p for p in found if p["name"] == "orders.daily_revenue")
    assert revenue["rows"] == 6 and revenue["owner"] == "team-orders"
    nothing = meshlake(home, "products", "--principal", "marketing")
    assert "principal 'marketing' may read no materialised product" in nothing.stdout
