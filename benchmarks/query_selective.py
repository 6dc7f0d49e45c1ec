"""Selective queries: our query path on a year of day partitions ÷ DuckDB's own `iceberg_scan` / `delta_scan`.

    python -m benchmarks.query_selective [--quick] [--workdir DIR]     # prints the results as JSON

A gold-like product (orders: id, time, day, country, customer, decimal amount) of 10M rows (1M with
`--quick`) over a year, partitioned by day of the order time and written in 4 commits, each adding a
file to every day partition (1,460 files). Order ids grow with time, so a key range is in few files.
Two queries, one for a day and one for a key range, each timed on both sides alternately in the same
process (`benchmarks.query_ratio.paired_ratio`: best of each side, the pairs' median and spread, every
sample, the load average):

- ours: `Serving.query` as a server runs it (kept engine; each run's SQL differs by a comment, so no
  answer comes from the result cache), and `meshlake.query`'s path (a new `Serving` per query, the
  process's plans shared) as `cold`;
- native: the same SQL on `iceberg_scan(<metadata file>)` / `delta_scan(<root>)` in a DuckDB connection
  kept open with the extension loaded from its wheel.

`query.selective_ratio_vs_native.<format>` is the larger ratio of the two queries, kept-engine path;
target <= 0.25. The files each side reads are in the details.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from benchmarks.query_http import bench_domain, bench_runtime
from benchmarks.query_ratio import COUNTRIES, paired_ratio
from pipelines.adapters.duckdb.engine import native_source
from pipelines.adapters.duckdb.extensions import OFFLINE_CONFIG, load_extension
from pipelines.core.names import Layer, TableId
from pipelines.ports.table_store import PartitionField
from pipelines.serving.session import Serving

ROWS = {"full": 10_000_000, "quick": 1_000_000}
COMMITS = 4
DAYS = 365
FORMATS = ("iceberg", "delta")
TARGET = 0.25
REPS = 9
TABLE = TableId("bench", "orders")
QUERIES = {
    "day": (
        "SELECT country, count(*) AS orders, sum(amount) AS revenue, count(DISTINCT customer_id) AS customers "
        "FROM {source} WHERE day = DATE '2026-06-01' GROUP BY country ORDER BY country"
    ),
    "key_range": (
        "SELECT day, count(*) AS orders, sum(amount) AS revenue FROM {source} "
        "WHERE order_id BETWEEN {low} AND {high} GROUP BY day ORDER BY day"
    ),
}


def orders(rows: int, commit: int) -> pa.Table:
    """The rows of one commit: a quarter of every day's orders (ids and times grow with the day)."""
    per_day = rows // DAYS
    share = per_day // COMMITS
    frame = pl.DataFrame({"day_index": pl.int_range(0, DAYS, eager=True, dtype=pl.Int64)}).join(
        pl.DataFrame({"n": pl.int_range(commit * share, (commit + 1) * share, eager=True, dtype=pl.Int64)}),
        how="cross",
    )
    h = (pl.col("day_index") * per_day + pl.col("n")).hash(11)
    frame = frame.select(
        (pl.col("day_index") * per_day + pl.col("n")).alias("order_id"),
        (
            pl.datetime(2026, 1, 1, time_zone="UTC")
            + pl.duration(days=pl.col("day_index"), microseconds=pl.col("n") * 86_400_000_000 // per_day)
        ).alias("ordered_at"),
        (pl.date(2026, 1, 1) + pl.duration(days=pl.col("day_index"))).alias("day"),
        pl.lit(pl.Series(COUNTRIES)).gather((h % len(COUNTRIES)).cast(pl.UInt32)).alias("country"),
        (h // 16 % (rows // 10 + 1)).cast(pl.Int64).alias("customer_id"),
        ((h // 1_000_003 % 50_000).cast(pl.Decimal(18, 2)) / 100).cast(pl.Decimal(18, 2)).alias("amount"),
    )
    return frame.to_arrow()


def write_table(home: Path, fmt: str, rows: int) -> Serving:
    """The product's table: partitioned by day(ordered_at), `COMMITS` appends."""
    runtime = bench_runtime(home, fmt, bench_domain(TABLE))
    store = runtime.store_for(TABLE.domain, Layer.GOLD, TABLE.name)
    for commit in range(COMMITS):
        data = orders(rows, commit)
        if commit == 0:
            store.ensure_table(TABLE, data.schema, [PartitionField("ordered_at", "day")])
        store.append(TABLE, data)
    return Serving(runtime)


def key_range(rows: int) -> dict[str, int]:
    """About a day's worth of order ids in June."""
    per_day = rows // DAYS
    return {"low": 170 * per_day + per_day // 3, "high": 171 * per_day + per_day // 3}


def _numbered(sql: str) -> Callable[[], str]:
    """The same SQL with a new comment each call: a new text, so no answer comes from the result cache."""
    count = itertools.count()
    return lambda: f"{sql} -- run {next(count)}"


def files_read(con: duckdb.DuckDBPyConnection, sql: str) -> int | None:
    """Files the query's scan opened, from DuckDB's profile (`Total Files Read`), when it says."""
    plan = json.loads(con.sql(f"EXPLAIN (ANALYZE, FORMAT json) {sql}").fetchall()[0][1])
    found: list[int] = []

    def walk(node: dict[str, Any]) -> None:
        extra = node.get("extra_info") or {}
        if isinstance(extra, dict) and "Total Files Read" in extra:
            found.append(int(extra["Total Files Read"]))
        for child in node.get("children", []):
            walk(child)

    walk(plan)
    return sum(found) if found else None


def measure(workdir: Path, rows: int, reps: int = REPS, formats: tuple[str, ...] = FORMATS) -> dict[str, Any]:
    """Every measurement, as flat `query.*` keys."""
    out: dict[str, Any] = {}
    for fmt in formats:
        home = workdir / fmt
        serving = write_table(home, fmt, rows)
        scan = serving.plan(str(TABLE))
        native = duckdb.connect(config=dict(OFFLINE_CONFIG))
        load_extension(native, fmt)
        source = native_source(scan)
        assert source is not None
        detail: dict[str, Any] = {"rows": rows, "files": len(scan.files)}
        ratios = []
        for name, template in QUERIES.items():
            ours_sql = template.format(source=TABLE, **key_range(rows))
            native_sql = template.format(source=source, **key_range(rows))
            ours_text, native_text = _numbered(ours_sql), _numbered(native_sql)
            kept = paired_ratio(
                lambda: serving.query(ours_text()).table,  # noqa: B023
                lambda: native.sql(native_text()).to_arrow_table(),  # noqa: B023
                reps,
            )
            cold = paired_ratio(
                lambda: Serving(bench_runtime(home, fmt, bench_domain(TABLE))).query(ours_text()).table,  # noqa: B023
                lambda: native.sql(native_text()).to_arrow_table(),  # noqa: B023
                reps,
            )
            answer = serving.query(ours_sql).table
            assert answer.equals(native.sql(native_sql).to_arrow_table()), f"{fmt} {name}: answers differ"
            engine = serving.engine()
            engine.execute(ours_sql)
            detail[name] = {
                "kept": kept,
                "cold": cold,
                "files_read_ours": files_read(engine.connection, ours_sql),
                "files_read_native": files_read(native, native_sql),
            }
            engine.close()
            ratios.append(kept["ratio"])
            out[f"query.selective_ratio_vs_native.{fmt}.{name}"] = kept["ratio"]
            out[f"query.selective_ratio_vs_native_cold.{fmt}.{name}"] = cold["ratio"]
        out[f"query.selective_ratio_vs_native.{fmt}"] = max(ratios)
        out[f"query.detail.selective.{fmt}"] = detail
        native.close()
        shutil.rmtree(home, ignore_errors=True)
        print(f"  selective {fmt}: {json.dumps(detail)}", file=sys.stderr, flush=True)
    return out


def run(results: dict[str, Any], quick: bool = False, workdir: Path | None = None) -> None:
    """Add `query.selective_ratio_vs_native.{iceberg,delta}` (and per query, and cold) with details to `results`."""
    root = workdir or Path(tempfile.mkdtemp(prefix="meshlake-selective-bench-"))
    results["query.detail.selective.load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    try:
        results.update(measure(root, ROWS["quick" if quick else "full"]))
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    results["query.detail.selective.load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    ratios = [v for k, v in results.items() if k.startswith("query.selective_ratio_vs_native.") and k.count(".") == 2]
    results["query.target.selective_ratio_vs_native"] = TARGET
    results["query.selective_meets_target"] = bool(ratios) and all(r <= TARGET for r in ratios)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.query_selective", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"{ROWS['quick']:,} rows instead of {ROWS['full']:,}")
    parser.add_argument("--workdir", type=Path, help="where tables go (default: a temp dir, removed after)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    run(results, quick=args.quick, workdir=args.workdir)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
