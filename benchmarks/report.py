"""The printed benchmark table (rich): rates, ratios against same-run baselines, peak RSS, targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _rate(value: float) -> str:
    return f"{value:,.0f} rows/s"


def print_report(results: dict[str, Any], out: Path, console: Console | None = None) -> None:
    """Print the results of `benchmarks.__main__.run` as one table."""
    console = console or Console()
    decode, parquet, ingest = results["decode"], results["baseline"]["parquet"], results["ingest"]
    targets = results["targets"]
    table = Table(title=f"meshlake bronze ingest — {results['events']:,} OrderPlaced events")
    for column in ("measure", "value", "vs baseline", "target"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    table.add_row("generate (not timed in ingest)", f"{results['generate']['seconds']:.1f} s", "", "")
    table.add_row("baseline: parquet write_table zstd", _rate(parquet["rows_per_s"]), "1.00", "")
    table.add_row("baseline: upb parse", _rate(decode["upb_parse_msgs_per_s"]), "", "")
    table.add_row("baseline: protarrow (parse+convert)", _rate(decode["protarrow_rows_per_s"]), "1.00", "")
    table.add_row("reference decoder", _rate(decode["reference_rows_per_s"]), "", "")
    ratio = ingest["ratio_vs_protarrow"]
    table.add_row("fast decoder", _rate(decode["rows_per_s"]), f"{ratio:.1f}x protarrow", "> 1")
    for fmt, rate in ingest["rows_per_s"].items():
        vs = ingest["ratio_vs_parquet"][fmt]
        ok = "✓" if vs >= targets["ratio_vs_parquet"] else "✗"
        table.add_row(f"ingest → {fmt}", _rate(rate), f"{vs:.2f}x parquet", f"≥ {targets['ratio_vs_parquet']} {ok}")
    for fmt, rss in ingest["peak_rss_mb"].items():
        ok = "✓" if rss <= targets["peak_rss_mb"] else "✗"
        table.add_row(f"peak RSS, {fmt} ingest", f"{rss:,.0f} MB", "", f"≤ {targets['peak_rss_mb']:.0f} {ok}")
    console.print(table)
    load = ", ".join(f"{x:.1f}" for x in results["machine"]["load_average"])
    console.print(f"{results['machine']['cpus']} CPUs, load average {load}; results in {out}")
