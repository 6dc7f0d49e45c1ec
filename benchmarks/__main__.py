"""`python -m benchmarks`: bronze ingestion speed on generated OrderPlaced events, against baselines of the same run.

Steps, all on the same events, each in its own process so that this one stays small (a child's
`ru_maxrss` starts from its parent's size): generate the events into landing files (cached across
runs while the generator and schema do not change); decode them with our decoder and, on a
sample, the reference decoder, upb alone and protarrow; write the decoded bronze table with a
plain `pyarrow.parquet.write_table(compression="zstd")`; then ingest the files through the real
service into Iceberg and into Delta, timing the Parquet baseline again just before and after each
ingest: `ratio_vs_parquet` divides by the mean of those two, measured under the same load.

Then the silver suite (`benchmarks.silver_upsert`: upsert 100k changes into 1M rows, incremental vs
full silver run) and the query suite (`benchmarks.query_ratio`: our query path vs `read_parquet` over
the same files, HTTP latency). `--suites` picks some. Writes `benchmarks/results.json` and prints a
table per suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.report import print_report

FULL, QUICK = 1_000_000, 100_000
FORMATS = ("iceberg", "delta")
SUITES = ("ingest", "silver", "query")
TARGETS = {"ratio_vs_parquet": 0.5, "peak_rss_mb": 750.0}
RESULTS = Path(__file__).with_name("results.json")
CACHE = Path(tempfile.gettempdir()) / "meshlake-bench-cache"
ROOT = Path(__file__).parents[1]


def worker(module: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `python -m benchmarks.<module> <args>` (`env` added to the environment); returns the JSON it printed."""
    command = [sys.executable, "-m", f"benchmarks.{module}", *args]
    environment = {**os.environ, **(env or {})}
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.{module} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run(events: int, workdir: Path, cache: Path, formats: tuple[str, ...] = FORMATS) -> dict[str, Any]:
    """Measure bronze ingestion on `events` generated events; returns the results document."""
    data = worker("generate", "--events", str(events), "--cache", str(cache))
    landing = data["landing"]
    measure_dir = str(workdir / "measure")
    jit = jit_seconds(landing, workdir)
    measured = worker("measure", "--landing", landing, "--workdir", measure_dir)
    decode, parquet = measured["decode"], measured["parquet"]
    runs, around, adjacent = {}, {}, {}
    for fmt in formats:  # the Parquet baseline again just before and after: the same load as the ingest
        before = worker("measure", "--parquet-only", "--workdir", measure_dir)
        runs[fmt] = worker(
            "ingest_worker", "--format", fmt, "--home", str(workdir / f"ingest-{fmt}"), "--landing", landing
        )
        after = worker("measure", "--parquet-only", "--workdir", measure_dir)
        around[fmt] = {"before": before, "after": after}
        adjacent[fmt] = 2 / (1 / before["rows_per_s"] + 1 / after["rows_per_s"])  # the rows over the mean time
    ingest: dict[str, Any] = {
        "rows_per_s": {fmt: r["rows_per_s"] for fmt, r in runs.items()},
        "ratio_vs_parquet": {fmt: r["rows_per_s"] / adjacent[fmt] for fmt, r in runs.items()},
        "parquet_rows_per_s_around": adjacent,
        "parquet_around": around,
        "ratio_vs_protarrow": decode["rows_per_s"] / decode["protarrow_rows_per_s"],
        "jit_compile_s": jit["compile"],
        "jit_cache_load_s": jit["cache_load"],
        "jit_measures": "first framing + decoding of a fresh process: with an empty numba cache (compile) and "
        "with the cache that compile left (load); every timed rate above starts after it",
        "peak_rss_mb": {fmt: r["peak_rss_mb"] for fmt, r in runs.items()},
        "runs": runs,
    }
    ingest["meets_targets"] = {
        "ratio_vs_parquet": all(v >= TARGETS["ratio_vs_parquet"] for v in ingest["ratio_vs_parquet"].values()),
        "peak_rss_mb": all(v <= TARGETS["peak_rss_mb"] for v in ingest["peak_rss_mb"].values()),
    }
    return {
        "events": events,
        "machine": {"cpus": os.cpu_count(), "load_average": list(os.getloadavg()), "python": platform.python_version()},
        "generate": data,
        "decode": decode,
        "baseline": {
            "parquet": parquet,
            "parquet_table": "decoded rows plus the _ingest column: the table ingest commits",
            "ratio_vs_parquet_uses": "ingest.parquet_rows_per_s_around: the baseline timed next to each ingest",
            "protarrow_rows_per_s": decode["protarrow_rows_per_s"],
            "protarrow_measures": "upb parse + protarrow.messages_to_table, on a sample of the same events",
        },
        "targets": TARGETS,
        "ingest": ingest,
    }


def jit_seconds(landing: str, workdir: Path) -> dict[str, float]:
    """The first framing and decoding of a process: compiling the kernels into an empty cache, then loading them."""
    cache = workdir / "numba-cache"
    args = ("--jit-only", "--landing", landing, "--workdir", str(workdir / "jit"))
    compile_s = worker("measure", *args, env={"NUMBA_CACHE_DIR": str(cache)})["first_call_s"]
    load_s = worker("measure", *args, env={"NUMBA_CACHE_DIR": str(cache)})["first_call_s"]
    return {"compile": compile_s, "cache_load": load_s}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK:,} events instead of {FULL:,}")
    parser.add_argument("--events", type=int, help="how many events (overrides --quick)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON results go")
    parser.add_argument("--workdir", type=Path, help="where tables go (default: a temp dir, removed after)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where generated events are kept between runs")
    parser.add_argument("--formats", default=",".join(FORMATS), help="table formats to ingest into")
    parser.add_argument("--suites", default=",".join(SUITES), help=f"which suites to run, of {', '.join(SUITES)}")
    args = parser.parse_args(argv)
    suites = [s for s in args.suites.split(",") if s]
    if unknown := set(suites) - set(SUITES):
        parser.error(f"--suites: unknown suite(s) {', '.join(sorted(unknown))}; choose from {', '.join(SUITES)}")
    events = args.events or (QUICK if args.quick else FULL)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="meshlake-bench-"))
    results: dict[str, Any] = {}
    try:
        if "ingest" in suites:
            results = run(events, workdir, args.cache, tuple(f for f in args.formats.split(",") if f))
        if "silver" in suites:
            from benchmarks import silver_upsert

            results["silver"] = {}
            silver_upsert.run(results["silver"])
        if "query" in suites:
            from benchmarks import query_ratio

            results["query"] = {}
            query_ratio.run(results["query"], quick=args.quick, workdir=workdir / "query", details=False)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_report(results, args.out)
    return results


if __name__ == "__main__":
    main()
