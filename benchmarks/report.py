"""The printed benchmark table (rich): rates, ratios against same-run baselines, peak RSS, where ingest time goes."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _rate(value: float) -> str:
    return f"{value:,.0f} rows/s"


def print_report(results: dict[str, Any], out: Path, console: Console | None = None) -> None:
    """Print the results of `python -m benchmarks`: a table per suite that ran."""
    console = console or Console(width=max(Console().width, 110))
    if "decode" in results:
        _print_ingest(results, console)
    if "nats_ratio_vs_fetch" in results.get("ingest", {}):
        _print_nats(results["ingest"], console)
    for suite in ("silver", "query", "s3", "wap", "engine", "cli"):
        if suite in results:
            _print_flat(suite, results[suite], console)
    console.print(f"results: {out}")


TARGETS = {
    "silver.upsert_100k_of_1m_s.": ("<=", 0.5),
    "silver.incremental_ratio": ("<=", 0.02),
    "query.ratio_vs_parquet.": ("<=", 1.0),
    "query.ratio_vs_parquet_warm.": ("<=", 1.0),
    "query.http_cached_p50_ms": ("<=", 2.0),
    "query.selective_ratio_vs_native.": ("<=", 0.25),
    "s3.ingest_ratio_vs_local.": (">=", 0.75),
    "s3.query_ratio_vs_read_parquet.": ("<=", 1.0),
    "sail_ratio.": ("<=", 0.7),
    "help_s.": ("<=", 0.3),
}


def _print_flat(suite: str, values: dict[str, Any], console: Console) -> None:
    table = Table(title=f"meshlake {suite}")
    for column in ("measure", "value", "target"):
        table.add_column(column, justify="right" if column != "measure" else "left", no_wrap=True)
    for key, value in values.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or ".detail." in key:
            continue
        target = next((t for prefix, t in TARGETS.items() if key.startswith(prefix)), None)
        verdict = ""
        if target is not None:
            ok = value <= target[1] if target[0] == "<=" else value >= target[1]
            verdict = f"{target[0]} {target[1]} {'ok' if ok else 'MISSED'}"
        table.add_row(key, f"{value:,.3f}", verdict)
    console.print(table)


def _print_ingest(results: dict[str, Any], console: Console) -> None:
    decode, parquet, ingest = results["decode"], results["baseline"]["parquet"], results["ingest"]
    targets = results["targets"]
    table = Table(title=f"meshlake bronze ingest: {results['events']:,} OrderPlaced events")
    for column in ("measure", "value", "vs baseline", "target"):
        table.add_column(column, justify="right" if column != "measure" else "left", no_wrap=True)
    generated = results["generate"]
    table.add_row(
        "generate events (cached)" if generated["cached"] else "generate events", f"{generated['seconds']:.1f} s"
    )
    table.add_row("baseline: parquet write_table zstd", _rate(parquet["rows_per_s"]), "1.00", "")
    table.add_row("baseline: protarrow parse+convert", _rate(decode["protarrow_rows_per_s"]), "1.00", "")
    table.add_row("upb parse only", _rate(decode["upb_parse_msgs_per_s"]), "", "")
    table.add_row("reference decoder", _rate(decode["reference_rows_per_s"]), "", "")
    ratio = ingest["ratio_vs_protarrow"]
    table.add_row("fast decoder", _rate(decode["rows_per_s"]), f"{ratio:.1f}x protarrow", "> 1")
    if "jit_compile_s" in ingest:
        table.add_row("first call: compile kernels (empty cache)", f"{ingest['jit_compile_s']:.2f} s")
        table.add_row("first call: load kernels (cached)", f"{ingest['jit_cache_load_s']:.2f} s")
    for fmt, rate in ingest.get("parquet_rows_per_s_around", {}).items():
        table.add_row(f"baseline: parquet, around {fmt} ingest", _rate(rate), "1.00", "")
    for fmt, rate in ingest["rows_per_s"].items():
        vs = ingest["ratio_vs_parquet"][fmt]
        ok = "ok" if vs >= targets["ratio_vs_parquet"] else "MISSED"
        samples = ingest.get("ratio_vs_parquet_samples", {}).get(fmt, [])
        spread = f" ({min(samples):.2f}-{max(samples):.2f})" if len(samples) > 1 else ""
        table.add_row(
            f"ingest -> {fmt}", _rate(rate), f"{vs:.2f}x parquet{spread}", f">= {targets['ratio_vs_parquet']} {ok}"
        )
    for fmt, rss in ingest["peak_rss_mb"].items():
        ok = "ok" if rss <= targets["peak_rss_mb"] else "MISSED"
        table.add_row(f"peak RSS, {fmt} ingest", f"{rss:,.0f} MB", "", f"<= {targets['peak_rss_mb']:.0f} {ok}")
    console.print(table)
    phases = Table(title="where ingest time goes (seconds, wall)")
    names = sorted({p for run in ingest["runs"].values() for p in run["phases_seconds"]})
    phases.add_column("format")
    for name in [*names, "total", "cpu"]:
        phases.add_column(name, justify="right")
    for fmt, run in ingest["runs"].items():
        cells = [f"{run['phases_seconds'].get(n, 0.0):.2f}" for n in names]
        phases.add_row(fmt, *cells, f"{run['seconds']:.2f}", f"{run['cpu_seconds']:.2f}")
    console.print(phases)
    load = ", ".join(f"{x:.1f}" for x in results["machine"]["load_average"])
    console.print(
        f"{results['machine']['cpus']} CPUs, load average {load} (other work on the machine slows every rate)"
    )


def _print_nats(ingest: dict[str, Any], console: Console) -> None:
    table = Table(title=f"meshlake JetStream ingest: {ingest['nats_events']:,} OrderPlaced events from nats-server")
    for column in ("measure", "value", "vs baseline", "target"):
        table.add_column(column, justify="right" if column != "measure" else "left", no_wrap=True)
    fetched = ingest["nats_fetch_msgs_per_s_samples"]
    table.add_row(
        "baseline: bare nats-py pull, counting callback",
        f"{ingest['nats_fetch_msgs_per_s']:,.0f} msg/s",
        f"1.00 ({min(fetched):,.0f}-{max(fetched):,.0f})",
        "",
    )
    for fmt, ratio in ingest["nats_ratio_vs_fetch"].items():
        samples = ingest["nats_ratio_vs_fetch_samples"][fmt]
        waits = [run["source_wait_s"] / run["seconds"] for run in ingest["nats_runs"][fmt]]
        table.add_row(
            f"ingest -> {fmt} (waiting for pulls {statistics.median(waits):.0%})",
            f"{ingest['nats_msgs_per_s'][fmt]:,.0f} msg/s",
            f"{ratio:.2f}x fetch ({min(samples):.2f}-{max(samples):.2f}, n={len(samples)})",
            f">= 0.7 {'ok' if ratio >= 0.7 else 'MISSED'}",
        )
    console.print(table)
    load = ", ".join(f"{x:.1f}" for x in ingest["nats_load_average"])
    console.print(f"load average after the JetStream suite {load}")
