"""Serving reads the right rows: both DuckDB read paths and Polars, current and past versions, Iceberg and Delta.

Also holds the fixtures of the other `test_serving_*` modules: two small domains whose gold tables are
written straight through the table stores (no pipeline run), and a catalog with their products.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from catalog.model import DomainIn, Principal, PrincipalKind, ProductIn
from catalog.service import CatalogService
from pipelines.adapters.duckdb.engine import ReadPath, pick_read_path
from pipelines.bootstrap import Runtime
from pipelines.core.commits import TableFormat
from pipelines.core.domain import Domain
from pipelines.core.names import Layer, TableId
from pipelines.core.spec import DomainSpec
from pipelines.ports.query_engine import QueryError
from pipelines.serving import Serving
from pipelines.settings import Settings
from tests.paths import MESH

ADMIN = Principal(name="admin", kind=PrincipalKind.ADMIN)
REVENUE = TableId("orders", "daily_revenue")
CUSTOMERS = TableId("orders", "customers")
SILVER = TableId("orders", "silver_orders")
CAMPAIGNS = TableId("marketing", "campaigns")


def _domain(name: str, owner: str, products: dict[str, bool]) -> Domain:
    spec = DomainSpec.model_validate(
        {
            "name": name,
            "owner": owner,
            "schemas": f"{name}/v1",
            "events": {"happened": {"message": f"test.{name}.Happened"}},
            "entities": {"things": {"events": ["happened"], "transform": "things"}},
            "products": {
                product: {"description": f"{product} of {name}", "inputs": ["silver.things"], "transform": product}
                | ({"public": True} if public else {})
                for product, public in products.items()
            },
        }
    )
    return Domain(spec=spec, transforms={})


def revenue_rows(days: int, scale: int = 1) -> pa.Table:
    """`days` days x 3 countries of revenue; `scale` multiplies the amounts (to tell versions apart)."""
    countries = ["DE", "FR", "NL"]
    return pa.table(
        {
            "day": pa.array([date(2026, 5, 1 + d) for d in range(days) for _ in countries], pa.date32()),
            "country": [c for _ in range(days) for c in countries],
            "revenue": pa.array(
                [Decimal(f"{(d + 1) * (i + 1) * 10 * scale}.25") for d in range(days) for i in range(3)],
                pa.decimal128(18, 2),
            ),
            "orders": pa.array([(d + 1) * (i + 1) for d in range(days) for i in range(3)], pa.int64()),
        }
    )


@dataclass
class Lake:
    """A MESHLAKE_HOME with gold tables, their catalog entries, and the versions written."""

    home: Path
    runtime: Runtime
    serving: Serving
    catalog: CatalogService
    first_version: int  # orders.daily_revenue: 2 days
    second_version: int  # orders.daily_revenue: 3 days, amounts x2
    first_time: datetime  # the commit time of the first version


def build_lake(root: Path, fmt: str) -> Lake:
    home = root / "home"
    settings = Settings.load(project=MESH, env={"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt})
    domains = [
        _domain("orders", "team-orders", {"daily_revenue": True, "customers": False}),
        _domain("marketing", "team-marketing", {"campaigns": False}),
    ]
    runtime = Runtime(settings, domains=domains)
    store = runtime.store(settings.format)  # type: ignore[arg-type]
    store.ensure_table(REVENUE, revenue_rows(1).schema)
    first = store.overwrite(REVENUE, revenue_rows(2))
    time.sleep(0.01)  # the second commit gets a later timestamp
    second = store.overwrite(REVENUE, revenue_rows(3, scale=2))
    customers = pa.table({"customer_id": pa.array([1, 2, 3], pa.int64()), "email": ["a@x", "b@x", "c@x"]})
    silver = pa.table({"order_id": ["o1", "o2"], "total": pa.array([1.5, 2.5])})
    campaigns = pa.table({"campaign": ["spring", "summer"], "country": ["DE", "FR"]})
    for table, data in ((CUSTOMERS, customers), (SILVER, silver), (CAMPAIGNS, campaigns)):
        store.ensure_table(table, data.schema)
        store.overwrite(table, data)
    catalog = CatalogService.open(settings.catalog_db_url)
    for domain in domains:
        catalog.put_domain(ADMIN, domain.name, DomainIn(owner=domain.spec.owner))
        for name, spec in domain.spec.products.items():
            product = ProductIn(description=spec.description, public=spec.public, table_format=fmt)
            catalog.put_product(ADMIN, f"{domain.name}.{name}", product)
    first_time = datetime.fromtimestamp(first.timestamp_ms / 1000, UTC)
    return Lake(home, runtime, Serving(runtime), catalog, first.version, second.version, first_time)


@pytest.fixture(params=["iceberg", "delta"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lake]:
    built = build_lake(tmp_path, request.param)
    yield built
    built.catalog.close()


READ_PATHS = ["arrow", "parquet", "native"]


@pytest.mark.parametrize("read_path", READ_PATHS)
def test_views_hold_the_current_version(lake: Lake, read_path: ReadPath) -> None:
    con = lake.serving.connect(read_path=read_path)
    got = con.sql("SELECT * FROM orders.daily_revenue ORDER BY day, country").to_arrow_table()
    assert got.num_rows == 9
    assert got.column_names == ["day", "country", "revenue", "orders"]
    assert got.column("revenue")[0].as_py() == Decimal("20.25")  # the second version: amounts x2
    tables = con.sql(
        "SELECT schema_name, table_name FROM duckdb_tables() UNION ALL "
        "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
    ).fetchall()
    assert ("marketing", "campaigns") in tables and ("orders", "customers") in tables


@pytest.mark.parametrize("read_path", READ_PATHS)
def test_as_of_a_version_or_a_time_reads_that_version(lake: Lake, read_path: ReadPath) -> None:
    by_version = lake.serving.connect(as_of={"orders.daily_revenue": lake.first_version}, read_path=read_path)
    by_time = lake.serving.connect(as_of=lake.first_time, read_path=read_path)
    for con in (by_version, by_time):
        rows = con.sql("SELECT count(*), min(revenue) FROM orders.daily_revenue").fetchone()
        assert rows == (6, Decimal("10.25"))
    iso = lake.first_time.isoformat()
    assert lake.serving.query("SELECT count(*) AS n FROM orders.daily_revenue", as_of=iso).table["n"][0].as_py() == 6


def test_as_of_before_the_first_version_says_so(lake: Lake) -> None:
    with pytest.raises(QueryError, match=r"orders\.daily_revenue has no version at or before 2000-01-01"):
        lake.serving.query("SELECT * FROM orders.daily_revenue", as_of="2000-01-01")
    with pytest.raises(QueryError, match="has no version 424242"):
        lake.serving.query("SELECT * FROM orders.daily_revenue", as_of=424242)


def test_polars_scan_reads_current_and_past_versions(lake: Lake) -> None:
    current = lake.serving.scan("orders.daily_revenue").sort("day", "country").collect()
    past = lake.serving.scan("orders.daily_revenue", as_of=lake.first_version).collect()
    by_time = lake.serving.scan("orders.daily_revenue", as_of=lake.first_time.isoformat()).collect()
    assert current.height == 9 and current["revenue"][0] == Decimal("20.25")
    assert past.height == 6 and by_time.height == 6
    assert current.columns == ["day", "country", "revenue", "orders"]


def test_polars_scan_pushes_projection_and_filter_into_the_parquet_scan(lake: Lake) -> None:
    plan = lake.serving.scan("orders.daily_revenue").filter(pl.col("country") == "DE").select("day").explain()
    assert "Parquet SCAN" in plan
    assert "PROJECT 2/4 COLUMNS" in plan  # day, and country for the filter
    assert 'SELECTION: (col("country")) == ("DE")' in plan or 'SELECTION: col("country") == "DE"' in plan


def test_polars_scan_of_a_past_version_pushes_projection_and_filter_into_that_versions_files(lake: Lake) -> None:
    past = lake.serving.scan("orders.daily_revenue", as_of=lake.first_version)
    query = past.filter(pl.col("country") == "DE").select("day", "revenue")
    plan = query.explain()
    assert "Parquet SCAN" in plan and "PROJECT 3/4 COLUMNS" in plan  # day, revenue, and country for the filter
    assert 'SELECTION: col("country") == "DE"' in plan
    [past_file] = lake.serving.plan("orders.daily_revenue", lake.first_version).files
    [current_file] = lake.serving.plan("orders.daily_revenue").files
    assert Path(past_file).name in plan and Path(current_file).name not in plan
    assert query.collect().rows() == [(date(2026, 5, 1), Decimal("10.25")), (date(2026, 5, 2), Decimal("20.25"))]


def test_polars_scan_of_a_partitioned_delta_version_reads_only_the_matching_partition(tmp_path: Path) -> None:
    from pipelines.adapters.polars.scan import lazy_frame
    from pipelines.ports.table_store import PartitionField
    from pipelines.serving.scans import plan_scan

    lake = build_lake(tmp_path, "delta")
    store = lake.runtime.store(TableFormat.DELTA)
    table = TableId("orders", "by_country")
    store.ensure_table(table, revenue_rows(1).schema, partition_by=[PartitionField("country")])
    first = store.overwrite(table, revenue_rows(2))
    store.overwrite(table, revenue_rows(3, scale=2))
    scan = plan_scan(store, table, as_of=first.version)
    assert not scan.exact  # partition values live in the log: the pyarrow dataset of that version is scanned
    for other in (f for f in scan.files if "country=DE" not in f):
        Path(other).unlink()  # a partition the filter prunes is never opened
    query = lazy_frame(scan).filter(pl.col("country") == "DE").select("day", "revenue")
    plan = query.explain()
    assert "PYTHON SCAN" in plan and "PROJECT 3/4 COLUMNS" in plan and 'SELECTION: col("country") == "DE"' in plan
    assert query.collect().rows() == [(date(2026, 5, 1), Decimal("10.25")), (date(2026, 5, 2), Decimal("20.25"))]
    lake.catalog.close()


@pytest.mark.parametrize("read_path", READ_PATHS)
def test_duckdb_pushes_projection_and_filter_into_the_table_scan(lake: Lake, read_path: ReadPath) -> None:
    con = lake.serving.connect(read_path=read_path)
    plan = con.sql("EXPLAIN SELECT day FROM orders.daily_revenue WHERE country = 'DE'").fetchall()[0][1]
    scan = {
        "arrow": "ARROW_SCAN",
        "parquet": "READ_PARQUET",
        "native": "ICEBERG_SCAN" if lake.runtime.settings.format == "iceberg" else "DELTA_SCAN",
    }[read_path]
    scan_node = plan[plan.index(scan) :]  # the leaf: nothing is read before the scan's own filter
    assert "Projections: day" in scan_node
    assert "Filters: country='DE'" in scan_node
    assert "FILTER" not in plan  # no filter left above the scan


def test_a_delta_commit_that_changes_no_rows_keeps_the_last_data_version(tmp_path: Path) -> None:
    from deltalake import DeltaTable

    lake = build_lake(tmp_path, "delta")
    store = lake.runtime.store_for("orders", Layer.GOLD, "daily_revenue")
    DeltaTable(store.location(REVENUE)).alter.set_table_properties({"delta.logRetentionDuration": "interval 30 days"})
    scan = lake.serving.plan("orders.daily_revenue")
    assert scan.version == lake.second_version
    assert lake.serving.query("SELECT count(*) AS n FROM orders.daily_revenue").table["n"][0].as_py() == 9
    lake.catalog.close()


def test_auto_reads_with_duckdbs_parquet_reader_only_when_the_files_split_across_threads(lake: Lake) -> None:
    scan = lake.serving.plan("orders.daily_revenue")
    assert scan.exact and scan.row_groups == len(scan.files) == 1  # the writers' default: one row group
    assert pick_read_path(scan, threads=2) == "arrow"
    assert pick_read_path(replace(scan, row_groups=8), threads=2) == "parquet"
    assert pick_read_path(replace(scan, row_groups=8, exact=False), threads=2) == "arrow"
    engine = lake.serving.engine()
    engine.execute("SELECT count(*) FROM orders.daily_revenue")
    assert engine.read_paths() == {"orders.daily_revenue": "arrow"}


def test_the_parquet_path_may_read_its_own_files_and_nothing_else(lake: Lake) -> None:
    con = lake.serving.connect(read_path="parquet", lockdown=True)
    assert con.sql("SELECT count(*) FROM orders.daily_revenue").fetchone() == (9,)
    other = lake.serving.plan("orders.customers", as_of=None).files[0]
    assert con.sql(f"SELECT count(*) FROM read_parquet('{other}')").fetchone() == (3,)  # a granted product's file
    silver = next(f for f in lake.home.rglob("*.parquet") if "silver_orders" in str(f))
    with pytest.raises(duckdb.Error, match="Permission Error"):
        con.sql(f"SELECT * FROM read_parquet('{silver}')").fetchall()
