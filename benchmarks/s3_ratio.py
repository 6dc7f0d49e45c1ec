"""Object storage: bronze ingest and product queries on SeaweedFS (loopback) against the same work locally.

    python -m benchmarks.s3_ratio [--quick] [--repeats N]     # prints the results as JSON

- `s3.ingest_ratio_vs_local.<format>`: rows/s of the bronze ingest of the benchmark's generated events
  into a warehouse on S3 ÷ rows/s of the same ingest into a local warehouse, in the same run
  (alternating, each in its own process; the median of `--repeats` pairs). Target ≥ 0.75.
- `s3.query_ratio_vs_read_parquet.<format>`: our cold query path (`Serving`: plan the version, open
  DuckDB, httpfs and its secret, the view, the lock, the SQL) on a 1M-row gold-like table on S3 ÷ a
  plain DuckDB connection loading httpfs, creating the same secret and running `read_parquet` over the
  same S3 files (best of several alternating runs, as `benchmarks.query_ratio`). Target ≤ 1.0.
  Beside it (`s3.detail.query.<format>`): every sample of both sides, the pairs' spread, each side's CPU
  time and `steps_ms`, where each path spends its time. Both sides load DuckDB's httpfs when our path
  reads the files with DuckDB's Parquet reader (a row group per thread or more, see `pick_read_path`;
  the Arrow handoff needs no httpfs). The baseline loads it as plain DuckDB does, checking the
  extension's signature at every connection (hashing 22 MB: ~80 ms CPU); ours has DuckDB check it once
  per process (`verified_once_config`): the measured samples follow a first query of each side, so
  they are the second and later queries of the process (the first query of a process pays the check
  as the baseline does). Ours adds the planning: one read of the Delta log or of the Iceberg metadata
  (and, for Delta, the files' footers).
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.query_ratio import SQL, TABLE, gold_like, paired_ratio
from pipelines.adapters.duckdb.engine import literal
from pipelines.adapters.duckdb.extensions import OFFLINE_CONFIG, load_extension
from pipelines.adapters.seaweedfs import SeaweedServer
from pipelines.adapters.storage import Location

FORMATS = ("iceberg", "delta")
TARGETS = {"s3.ingest_ratio_vs_local.": (">=", 0.75), "s3.query_ratio_vs_read_parquet.": ("<=", 1.0)}
BUCKET = "bench"


def _environment(server: SeaweedServer) -> dict[str, str]:
    return {
        "MESHLAKE_S3_ENDPOINT": server.endpoint,
        "MESHLAKE_S3_ACCESS_KEY_ID": server.access_key,
        "MESHLAKE_S3_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _first_write(server: SeaweedServer, home: Path) -> None:
    """Write (and delete) one object: SeaweedFS allocates a bucket's volumes at its first write, which made the
    first S3 ingest of a run 1.0-1.3 s slower than the next ones (a store in use has its volumes)."""
    from benchmarks.generate import ROOT
    from pipelines.bootstrap import Runtime
    from pipelines.settings import Settings

    env = _environment(server) | {"MESHLAKE_WAREHOUSE": f"s3://{BUCKET}/first-write"}
    location = Runtime(Settings.load(project=ROOT, env=env, home=home)).warehouse
    location.write_bytes("first-write", bytes(1024))  # an empty object takes no volume
    location.delete_files([location.child_uri("first-write")])


def ingest_ratios(server: SeaweedServer, landing: str, workdir: Path, repeats: int) -> dict[str, Any]:
    """Pairs of ingests (local, S3) per format, each in its own process; the median ratio per format."""
    from benchmarks.__main__ import worker

    env = _environment(server)
    out: dict[str, Any] = {}
    for fmt in FORMATS:
        pairs = []
        for i in range(repeats):
            runs = {}
            for where in ("local", "s3") if i % 2 == 0 else ("s3", "local"):
                home = workdir / f"{fmt}-{where}-{i}"
                args = ["--format", fmt, "--home", str(home), "--landing", landing]
                if where == "s3":
                    args += ["--warehouse", f"s3://{BUCKET}/ingest-{uuid.uuid4().hex[:8]}"]
                runs[where] = worker("ingest_worker", *args, env=env)
                shutil.rmtree(home, ignore_errors=True)
            pairs.append(runs)
        ratios = [p["s3"]["rows_per_s"] / p["local"]["rows_per_s"] for p in pairs]
        out[f"s3.ingest_ratio_vs_local.{fmt}"] = round(statistics.median(ratios), 3)
        out[f"s3.detail.ingest.{fmt}"] = {
            "ratios": [round(r, 3) for r in ratios],
            "s3_seconds": [round(p["s3"]["seconds"], 3) for p in pairs],
            "local_seconds": [round(p["local"]["seconds"], 3) for p in pairs],
            "events": pairs[0]["local"]["events"],
        }
    return out


class _Baseline:
    """A new DuckDB connection with httpfs and the store's secret, `read_parquet` over the S3 files."""

    def __init__(self, location: Location, files: tuple[str, ...]) -> None:
        self.text = SQL.format(source=f"read_parquet([{', '.join(literal(f) for f in files)}])")
        self.secret = location.duckdb_secret("bench_s3")

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        load_extension(con, "httpfs")
        if self.secret:
            con.execute(self.secret)

    def __call__(self) -> object:
        con = duckdb.connect(":memory:", config=dict(OFFLINE_CONFIG))
        try:
            self.prepare(con)
            return con.sql(self.text).to_arrow_table()
        finally:
            con.close()


def _steps(ours: Callable[[], Any], baseline: Any, sql: str, reps: int = 3) -> dict[str, Any]:
    """Median ms of each step of our cold path (`ours` builds a new serving) and of the baseline's."""
    times: dict[str, list[float]] = {}

    def step(name: str, run: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = run()
        times.setdefault(name, []).append(time.perf_counter() - started)
        return result

    for _ in range(reps):
        serving = step("ours.runtime", ours)
        step("ours.plan", lambda: serving.plan(str(TABLE)))  # noqa: B023  (the table opened once)
        engine = step("ours.connect", serving.engine)
        step("ours.view_httpfs_secret_lock", lambda: (engine.attach([str(TABLE)]), engine.lock()))  # noqa: B023
        step("ours.query", lambda: engine.connection.sql(sql).to_arrow_table())  # noqa: B023
        step("ours.close", engine.close)
        con = step("parquet.connect", lambda: duckdb.connect(":memory:", config=dict(OFFLINE_CONFIG)))
        step("parquet.httpfs_secret", lambda: baseline.prepare(con))  # noqa: B023
        step("parquet.query", lambda: con.sql(baseline.text).to_arrow_table())  # noqa: B023
        step("parquet.close", con.close)
    return {k: round(statistics.median(v) * 1000, 1) for k, v in times.items()}


def query_ratios(server: SeaweedServer, workdir: Path, rows: int, reps: int) -> dict[str, Any]:
    """Per format: a gold-like table written to S3 through our store, then our cold query ÷ `read_parquet`."""
    from benchmarks.generate import ROOT
    from benchmarks.query_http import bench_domain
    from pipelines.bootstrap import Runtime
    from pipelines.core.names import Layer
    from pipelines.serving.session import Serving
    from pipelines.settings import Settings

    data = gold_like(rows)
    sql = SQL.format(source=TABLE)
    domain = bench_domain(TABLE)
    out: dict[str, Any] = {}
    for fmt in FORMATS:
        prefix = f"s3://{BUCKET}/query-{fmt}-{uuid.uuid4().hex[:8]}"
        env = _environment(server) | {"MESHLAKE_WAREHOUSE": prefix}

        def runtime(fmt: str = fmt, env: dict[str, str] = env) -> Runtime:
            settings = Settings.load(project=ROOT, env=env, home=workdir / f"query-{fmt}", format=fmt)
            return Runtime(settings, domains=[domain])

        store = runtime().store_for(TABLE.domain, Layer.GOLD, TABLE.name)
        store.ensure_table(TABLE, data.schema)
        store.overwrite(TABLE, data)
        scan = Serving(runtime()).plan(str(TABLE))
        location = runtime().warehouse

        def ours(rt: Callable[[], Runtime] = runtime) -> object:
            return Serving(rt()).query(sql).table

        baseline = _Baseline(location, scan.files)
        cold = paired_ratio(ours, baseline, reps)
        out[f"s3.query_ratio_vs_read_parquet.{fmt}"] = cold["ratio"]
        steps = _steps(functools.partial(lambda rt: Serving(rt()), runtime), baseline, sql)
        out[f"s3.detail.query.{fmt}"] = cold | {"files": len(scan.files), "rows": rows, "steps_ms": steps}
    return out


def run(results: dict[str, Any], landing: str | None, quick: bool = False, repeats: int = 3) -> None:
    """Add the `s3.*` measures to `results` (the ingest ones only when `landing` holds generated events)."""
    workdir = Path(tempfile.mkdtemp(prefix="meshlake-s3-bench-"))
    try:
        with SeaweedServer(workdir / "seaweedfs", buckets=(BUCKET,)) as server:
            _first_write(server, workdir / "first-write")
            if landing:
                results.update(ingest_ratios(server, landing, workdir / "ingest", repeats))
            results.update(query_ratios(server, workdir, 100_000 if quick else 1_000_000, 5 if quick else 7))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["s3.targets"] = {k.rstrip("."): f"{op} {v}" for k, (op, v) in TARGETS.items()}
    results["s3.meets_targets"] = all(
        (v >= target if op == ">=" else v <= target)
        for key, value in results.items()
        for prefix, (op, target) in TARGETS.items()
        if key.startswith(prefix) and isinstance((v := value), int | float)
    )


def main(argv: list[str] | None = None) -> None:
    from benchmarks.__main__ import CACHE, FULL, QUICK, worker

    parser = argparse.ArgumentParser(prog="python -m benchmarks.s3_ratio", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK:,} events and 100k query rows")
    parser.add_argument("--repeats", type=int, default=3, help="ingest pairs per format")
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args(argv)
    events = QUICK if args.quick else FULL
    landing = worker("generate", "--events", str(events), "--cache", str(args.cache))["landing"]
    results: dict[str, Any] = {}
    run(results, landing, args.quick, max(1, args.repeats))
    json.dump(results, sys.stdout, indent=2)
    print(file=sys.stdout)


if __name__ == "__main__":
    main()
