"""Decoder and Parquet baselines on the benchmark's events (`python -m benchmarks.measure`); prints one JSON object.

Our decoder runs on every event, one call per landing file as ingest makes them. The per-message
baselines (reference decoder, upb parsing, protarrow) run on a sample of the same events: their
cost per message is flat, and on a million events protarrow alone would take half a minute. The
Parquet baseline writes the table ingest commits: the decoded rows plus the `_ingest` column. That
table is saved (Arrow IPC) so that `--parquet-only` can time the baseline again right next to each
ingest run: on a shared machine the load changes within a minute, and a ratio of two rates is only
fair when both were measured under the same load.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.generate import DOMAIN, EVENT, ROOT
from pipelines.bootstrap import Runtime
from pipelines.core.event_contract import INGEST_COLUMN, INGEST_TYPE
from pipelines.core.fast_decode import decode_payloads_fast
from pipelines.core.framing import unframe
from pipelines.core.proto_decode import decode_payloads
from pipelines.settings import Settings

SAMPLE = 100_000
WARM_BYTES = 1 << 20
"""Warming reads this much of a landing file: a few thousand events, enough to take the fast decoder's path."""


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def landing_files(landing: Path) -> list[Path]:
    return sorted((landing / DOMAIN / EVENT).glob("*.pb"))


def warm_up(landing: Path, cls: type[Any], schema: pa.Schema) -> float:
    """Frame and decode the first events of a landing file, so that the compiled kernels are loaded (or
    compiled, when their cache is empty) before any clock starts; returns the seconds that took."""
    with landing_files(landing)[0].open("rb") as file:
        head = file.read(WARM_BYTES)
    started = time.perf_counter()
    decode_payloads_fast(cls, unframe(head).payloads, schema)
    return time.perf_counter() - started


def decode_rates(landing: Path, workdir: Path) -> tuple[dict[str, Any], pa.Table]:
    """Rows/s of each decoder, and the bronze table (decoded rows + `_ingest`) the Parquet baseline writes."""
    contract = Runtime(Settings.load(project=ROOT, home=workdir)).contract(DOMAIN, EVENT)
    cls, schema = contract.message_class, contract.schema
    files = landing_files(landing)
    warm_up(landing, cls, schema)
    cpu = time.process_time()
    batches, framing_seconds = timed(lambda: [unframe(f.read_bytes()).payloads for f in files])
    framing_cpu = time.process_time() - cpu
    cpu = time.process_time()
    results, seconds = timed(lambda: [decode_payloads_fast(cls, batch, schema) for batch in batches])
    cpu = time.process_time() - cpu
    rows = sum(len(batch) for batch in batches)
    sample = [p for batch in batches for p in batch[:SAMPLE]][:SAMPLE]
    reference_sample = sample[: max(1, len(sample) // 5)]
    _, reference_seconds = timed(lambda: decode_payloads(cls, reference_sample, schema))
    messages, parse_seconds = timed(lambda: [cls.FromString(p) for p in sample])
    protarrow_seconds = _protarrow_seconds(messages, cls)
    rates = {
        "rows": rows,
        "rows_per_s": rows / seconds,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "read_and_frame_seconds": framing_seconds,
        "read_and_frame_cpu_seconds": framing_cpu,
        "reference_rows_per_s": len(reference_sample) / reference_seconds,
        "reference_rows": len(reference_sample),
        "upb_parse_msgs_per_s": len(sample) / parse_seconds,
        "protarrow_rows_per_s": len(sample) / (parse_seconds + protarrow_seconds),
        "protarrow_convert_rows_per_s": len(sample) / protarrow_seconds,
        "protarrow_rows": len(sample),
    }
    tables = [_bronze(r.table, f.name, r.accepted) for r, f in zip(results, files, strict=True)]
    return rates, pa.concat_tables(tables)


def _protarrow_seconds(messages: list[Any], cls: type[Any]) -> float:
    import protarrow

    _, seconds = timed(lambda: protarrow.messages_to_table(messages, cls))
    return seconds


def _bronze(table: pa.Table, source: str, offsets: list[int]) -> pa.Table:
    """The rows as ingest commits them: the decoded columns plus the `_ingest` struct."""
    n = table.num_rows
    ingest = pa.StructArray.from_arrays(
        [
            pa.array([source] * n, pa.string()),
            pa.array(offsets, pa.int64()),
            pa.array([datetime.now(UTC)] * n, pa.timestamp("us", tz="UTC")),
            pa.array(["bench"] * n, pa.string()),
            pa.array(["v"] * n, pa.string()),
        ],
        fields=list(INGEST_TYPE),
    )
    return table.append_column(pa.field(INGEST_COLUMN, INGEST_TYPE, nullable=False), ingest)


def parquet_rates(table: pa.Table, workdir: Path) -> dict[str, float]:
    """Rows/s of `pyarrow.parquet.write_table(compression="zstd")` to a file, with and without `_ingest`."""
    path = workdir / "baseline.parquet"
    cpu = time.process_time()
    _, seconds = timed(lambda: pq.write_table(table, path, compression="zstd"))
    cpu = time.process_time() - cpu
    decoded = table.drop_columns([INGEST_COLUMN])
    _, decoded_seconds = timed(lambda: pq.write_table(decoded, io.BytesIO(), compression="zstd"))
    return {
        "rows_per_s": table.num_rows / seconds,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "bytes": path.stat().st_size,
        "decoded_only_rows_per_s": table.num_rows / decoded_seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--landing", type=Path, help="the landing files (not needed with --parquet-only)")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--parquet-only", action="store_true", help="time the Parquet baseline of a previous run again")
    parser.add_argument("--jit-only", action="store_true", help="time the first framing and decoding of this process")
    args = parser.parse_args(argv)
    saved = args.workdir / "bronze.arrow"
    if args.parquet_only:
        with pa.OSFile(str(saved)) as source:
            table = pa.ipc.open_file(source).read_all()  # in memory, as the first measurement had it
        json.dump(parquet_rates(table, args.workdir), sys.stdout)
        return
    if args.landing is None:
        parser.error("--landing is required")
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.jit_only:
        contract = Runtime(Settings.load(project=ROOT, home=args.workdir)).contract(DOMAIN, EVENT)
        json.dump({"first_call_s": warm_up(args.landing, contract.message_class, contract.schema)}, sys.stdout)
        return
    decode, table = decode_rates(args.landing, args.workdir)
    with pa.OSFile(str(saved), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    json.dump({"decode": decode, "parquet": parquet_rates(table, args.workdir)}, sys.stdout)


if __name__ == "__main__":
    main()
