"""`query.http_p50_ms` and `query.http_cached_p50_ms`: median latency of `POST /api/query` for a small
product query on a real server, each request a new SQL text (no cached answer) and the same one repeated
(answered from the result cache)."""

from __future__ import annotations

import statistics
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pyarrow as pa

from benchmarks.generate import ROOT
from catalog.api import create_app
from catalog.model import DomainIn, Principal, PrincipalKind, ProductIn
from catalog.service import CatalogService
from catalog.testing import serve_in_thread
from pipelines.bootstrap import Runtime
from pipelines.core.domain import Domain
from pipelines.core.names import Layer, TableId
from pipelines.core.spec import DomainSpec
from pipelines.serving.http import query_router
from pipelines.serving.session import Serving
from pipelines.settings import Settings

PRODUCT = TableId("bench", "daily_revenue")
SQL = "SELECT country, sum(revenue) AS revenue FROM bench.daily_revenue WHERE day >= DATE '2026-03-01' GROUP BY 1"


def _daily_revenue(days: int = 365, countries: int = 12) -> pa.Table:
    """A gold product of the usual size: one row per day and country."""
    rows = [(date(2026, 1, 1) + timedelta(days=d), f"C{c:02d}") for d in range(days) for c in range(countries)]
    return pa.table(
        {
            "day": pa.array([r[0] for r in rows], pa.date32()),
            "country": [r[1] for r in rows],
            "revenue": pa.array([Decimal(f"{i % 9973}.25") for i in range(len(rows))], pa.decimal128(18, 2)),
        }
    )


def bench_domain(product: TableId) -> Domain:
    """A domain whose one public product is `product` (its table is written straight through the store)."""
    spec = DomainSpec.model_validate(
        {
            "name": product.domain,
            "owner": "team-bench",
            "schemas": f"{product.domain}/v1",
            "events": {"happened": {"message": "bench.v1.Happened"}},
            "entities": {"things": {"events": ["happened"], "transform": "things"}},
            "products": {
                product.name: {"description": "d", "inputs": ["silver.things"], "transform": "t", "public": True}
            },
        }
    )
    return Domain(spec=spec, transforms={})


def bench_runtime(home: Path, fmt: str, domain: Domain) -> Runtime:
    """The runtime of `domain` with its tables under `home` in `fmt`."""
    settings = Settings.load(project=ROOT, env={}, home=home, format=fmt)
    return Runtime(settings, domains=[domain])


def http_p50_ms(home: Path, fmt: str = "iceberg", requests: int = 60) -> dict[str, float]:
    """Median (and 90th percentile) milliseconds of `requests` queries, after 5 warm-up ones, by a reader
    over real HTTP: `query.http_p50_ms` with a new SQL text each time (a comment tells them apart, so
    no answer is cached), `query.http_cached_p50_ms` with the same text repeated."""
    runtime = bench_runtime(home, fmt, bench_domain(PRODUCT))
    data = _daily_revenue()
    store = runtime.store_for(PRODUCT.domain, Layer.GOLD, PRODUCT.name)
    store.ensure_table(PRODUCT, data.schema)
    store.overwrite(PRODUCT, data)
    catalog = CatalogService.open(runtime.settings.catalog_db_url)
    admin = Principal(name="admin", kind=PrincipalKind.ADMIN)
    catalog.put_domain(admin, PRODUCT.domain, DomainIn(owner="team-bench"))
    catalog.put_product(admin, str(PRODUCT), ProductIn(description="bench", public=True, table_format=fmt))
    token = catalog.create_token("analyst", PrincipalKind.READER, actor="bench")
    app = create_app(catalog)
    app.include_router(query_router(Serving(runtime)))
    times: dict[str, list[float]] = {"query.http_p50_ms": [], "query.http_cached_p50_ms": []}
    try:
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=60) as client:
            headers = {"Authorization": f"Bearer {token}"}
            for name, sample in times.items():
                for i in range(requests + 5):
                    sql = SQL if name == "query.http_cached_p50_ms" else f"{SQL} -- request {i}"
                    started = time.perf_counter()
                    response = client.post("/api/query", json={"sql": sql}, headers=headers)
                    elapsed = time.perf_counter() - started
                    response.raise_for_status()
                    if i >= 5:
                        sample.append(elapsed)
    finally:
        catalog.close()
    out: dict[str, float] = {}
    for name, sample in times.items():
        out[name] = round(statistics.median(sample) * 1000, 2)
        out[name.replace("p50", "p90")] = round(statistics.quantiles(sample, n=10)[-1] * 1000, 2)
    return out
