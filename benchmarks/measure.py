"""In-process measurements on the same events: our decoder, the reference one, upb, protarrow, a plain Parquet write."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.data import Dataset, runtime
from pipelines.core.event_contract import INGEST_COLUMN, INGEST_TYPE
from pipelines.core.fast_decode import decode_payloads_fast
from pipelines.core.proto_decode import decode_payloads

SAMPLE = 100_000
"""Per-message baselines (reference decoder, upb, protarrow) run on this many events: their rate is flat."""


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def decode_rates(data: Dataset) -> tuple[dict[str, Any], pa.Table]:
    """Rows/s of each decoder, and the bronze table (decoded rows + `_ingest`) the Parquet baseline writes."""
    rt = runtime(data.landing.parent / "measure")
    contract = rt.contract("orders", "order_placed")
    cls, schema = contract.message_class, contract.schema
    files = data.payloads()
    results, seconds = timed(lambda: [decode_payloads_fast(cls, batch, schema) for batch in files])
    rows = sum(len(batch) for batch in files)
    sample = [p for batch in files for p in batch][: min(SAMPLE, rows)]
    reference_sample = sample[: max(1, len(sample) // 5)]
    _, reference_seconds = timed(lambda: decode_payloads(cls, reference_sample, schema))
    messages, parse_seconds = timed(lambda: [cls.FromString(p) for p in sample])
    protarrow_seconds = _protarrow_seconds(messages, cls)
    rates = {
        "rows": rows,
        "rows_per_s": rows / seconds,
        "seconds": seconds,
        "reference_rows_per_s": len(reference_sample) / reference_seconds,
        "reference_rows": len(reference_sample),
        "upb_parse_msgs_per_s": len(sample) / parse_seconds,
        "protarrow_rows_per_s": len(sample) / (parse_seconds + protarrow_seconds),
        "protarrow_convert_rows_per_s": len(sample) / protarrow_seconds,
        "protarrow_rows": len(sample),
    }
    table = pa.concat_tables([_bronze(r.table, f.name, r.accepted) for r, f in zip(results, data.files, strict=True)])
    return rates, table


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
    _, seconds = timed(lambda: pq.write_table(table, path, compression="zstd"))
    decoded = table.drop_columns([INGEST_COLUMN])
    _, decoded_seconds = timed(lambda: pq.write_table(decoded, io.BytesIO(), compression="zstd"))
    return {
        "rows_per_s": table.num_rows / seconds,
        "seconds": seconds,
        "bytes": path.stat().st_size,
        "decoded_only_rows_per_s": table.num_rows / decoded_seconds,
    }


def ingest_in_subprocess(fmt: str, data: Dataset, workdir: Path) -> dict[str, Any]:
    """Run `benchmarks.ingest_worker` for one format and return what it printed."""
    home = workdir / f"ingest-{fmt}"
    command = [sys.executable, "-m", "benchmarks.ingest_worker", "--format", fmt]
    command += ["--home", str(home), "--landing", str(data.landing)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=Path(__file__).parents[1])
    if done.returncode != 0:
        raise RuntimeError(f"{fmt} ingest failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
