"""The Spark Connect engine against the embedded one: a gold build over 10M silver rows, and Sail's start-up.

`run(results)` builds the sample project's `orders.daily_revenue` (a portable transform) in full from
the same silver tables on each engine, alternating, `REPEATS` times, and adds:
- `sail_ratio.10m`: the median build on Sail ÷ the median build embedded (target ≤ 0.7; samples and
  spread are reported too). Both read the same Iceberg tables, Sail through the REST catalog.
- `sail_start_s`: how long a new Sail server takes to listen, and `sail_first_query_s` then to answer its
  first query through a new session.

The silver rows are the real pipeline's (generated events, ingested and upserted), repeated with new
order ids up to the row count: the data has the generator's shape at any size.
"""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.generate import ROOT
from pipelines.adapters.spark import SailServer, SparkEngine
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.generation import generate_landing
from pipelines.services.build import build_product, build_silver
from pipelines.services.ingest import ingest_event
from pipelines.settings import Settings

ROWS, QUICK_ROWS = 10_000_000, 1_000_000
EVENTS = 50_000
REPEATS = 3
PRODUCT = "daily_revenue"
TARGET = 0.7


def _prepared(home: Path, rows: int) -> Runtime:
    """A runtime on `home` (Iceberg, engine spark) whose silver orders hold `rows` rows."""
    runtime = Runtime(Settings.load(project=ROOT, env={}, home=home, format="iceberg", engine="spark"))
    domain = runtime.domain("orders")
    generate_landing(runtime, "orders", EVENTS, seed=11, files=2)
    for event in domain.spec.events:
        ingest_event(domain, event, runtime.contract("orders", event), runtime.landing, runtime, "bench")
    for entity in domain.spec.entities:
        build_silver(domain, entity, runtime, "bench")
    store, table = runtime.store_for("orders", Layer.SILVER), domain.silver_table("orders")
    real = store.read(table)
    copies, pending, written = 1, [], real.num_rows
    while written < rows:  # the same rows under new order ids, committed a million rows at a time
        batch = real.slice(0, min(real.num_rows, rows - written))
        ids = pc.binary_join_element_wise(batch.column("order_id"), pa.scalar(f"-{copies}"), "")
        pending.append(batch.set_column(batch.schema.get_field_index("order_id"), "order_id", ids))
        copies, written = copies + 1, written + batch.num_rows
        if sum(t.num_rows for t in pending) >= 1_000_000 or written >= rows:
            store.append(table, pa.concat_tables(pending))
            pending = []
    return runtime


def _seconds(work: Any) -> float:
    gc.collect()
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def measure(home: Path, rows: int, repeats: int = REPEATS) -> dict[str, Any]:
    """Medians, samples and spread of each engine's full build, Sail's start-up, and the ratio."""
    runtime = _prepared(home, rows)
    domain = runtime.domain("orders")
    engine = runtime.engine_for("orders", PRODUCT)
    assert engine is not None
    kinds = {
        "embedded": lambda: build_product(domain, PRODUCT, runtime, "embedded", full=True),
        "sail": lambda: build_product(domain, PRODUCT, runtime, "sail", full=True, engine=engine),
    }
    kinds["sail"]()  # the first query plans and caches metadata: not a sample
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(repeats):
        for kind, work in kinds.items():
            samples[kind].append(_seconds(work))
    runtime.close()
    medians = {kind: statistics.median(taken) for kind, taken in samples.items()}
    return {
        "medians_s": medians,
        "samples_s": {kind: [round(s, 3) for s in taken] for kind, taken in samples.items()},
        "spread_s": {kind: round(max(taken) - min(taken), 3) for kind, taken in samples.items()},
        "ratio": medians["sail"] / medians["embedded"],
        "silver_rows": rows,
    }


def start_up(folder: Path) -> dict[str, float]:
    """Seconds until a new Sail server listens, and then until its first session answered a query."""
    server = SailServer(folder).start()
    engine = SparkEngine(server.url)
    try:
        began = time.perf_counter()
        engine.session().range(1).collect()
        return {"listen_s": server.started_in_s or 0.0, "first_query_s": time.perf_counter() - began}
    finally:
        engine.close()
        server.stop()


def run(results: dict[str, Any], quick: bool = False) -> None:
    """Measure the Spark engine (Sail) against the embedded engine and add the figures to `results`."""
    rows = QUICK_ROWS if quick else ROWS
    label = f"{rows // 1_000_000}m"
    with tempfile.TemporaryDirectory(prefix="meshlake-engine-bench-") as tmp:
        found = measure(Path(tmp) / "home", rows)
        started = start_up(Path(tmp) / "sail")
    results[f"sail_ratio.{label}"] = found["ratio"]
    results["sail_ratio_target"] = TARGET
    results["sail_start_s"] = started["listen_s"]
    results["sail_first_query_s"] = started["first_query_s"]
    results["detail"] = found
    results["ratio_is"] = f"median of {REPEATS} full builds of orders.{PRODUCT} on Sail ÷ embedded, alternated"


if __name__ == "__main__":
    import json

    figures: dict[str, Any] = {}
    run(figures, quick="--quick" in sys.argv)
    print(json.dumps(figures, indent=1, default=str))
