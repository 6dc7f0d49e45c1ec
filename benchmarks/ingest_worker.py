"""One format's ingest in its own process, so its peak RSS is its own (`python -m benchmarks.ingest_worker`).

Times `ingest_event` (landing files → framing → decoding → contract checks → one committed bronze
table) through the real service and `open_table_store`; opening the store (importing pyiceberg or
deltalake) and loading the compiled decoding kernels (`measure.warm_up`) happen before the clock
starts. Also splits the ingest thread's wall time into phases by wrapping the functions the service
calls: data files are written on another thread while the ingest thread decodes, so
`write_wait_and_commits` is only the time the ingest thread waits for writes and makes the commits,
not the time writing takes; `select_and_ingest_column` is the rest of `decode_batch` (offsets, rejects,
selecting the rows that keep the contract, the `_ingest` column). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pipelines.adapters.landing.event_source as event_source
import pipelines.services.ingest as ingest_service
from benchmarks.generate import DOMAIN, EVENT, ROOT
from benchmarks.measure import warm_up
from pipelines.bootstrap import Runtime
from pipelines.core.commits import TableFormat
from pipelines.core.names import Layer
from pipelines.settings import Settings


def _timing(phases: dict[str, float], name: str, work: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return work(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - started

    return timed


def _time_calls(phases: dict[str, float], phase: str, module: object, function: str) -> None:
    """Replace `module.function` by itself timed into `phases[phase]` (the module's callers look it up there)."""
    setattr(module, function, _timing(phases, phase, getattr(module, function)))


def _waiting(phases: dict[str, float], append_batches: Callable[..., Any]) -> Callable[..., Any]:
    """`append_batches` timed apart from the time its batches take to produce (decoding, framing, ...)."""

    def timed(table: Any, batches: Iterable[Any], properties: Callable[[], Any], check: Any = None) -> Any:
        producing = 0.0

        def produced() -> Iterator[Any]:
            nonlocal producing
            iterator = iter(batches)
            while True:
                started = time.perf_counter()
                try:
                    batch = next(iterator)
                except StopIteration:
                    return
                finally:
                    producing += time.perf_counter() - started
                yield batch

        started = time.perf_counter()
        try:
            return append_batches(table, produced(), properties, check=check)
        finally:
            waited = time.perf_counter() - started - producing
            phases["write_wait_and_commits"] = phases.get("write_wait_and_commits", 0.0) + waited

    return timed


def _high_water_mb() -> float | None:
    """VmHWM of this process (Linux): unlike ru_maxrss it never includes the parent's size at fork."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def ingest(fmt: str, home: Path, landing: Path, warehouse: str | None = None) -> dict[str, Any]:
    """Ingest every landing file under `landing` into a fresh bronze table of format `fmt` under `home`
    (or under `warehouse`, e.g. `s3://bucket/prefix`, reached with the `MESHLAKE_S3_*` of the environment)."""
    target = home / "landing" / DOMAIN / EVENT
    target.mkdir(parents=True)
    for source in sorted((landing / DOMAIN / EVENT).iterdir()):
        os.link(source, target / source.name)  # same bytes, no copy
    rt = Runtime(Settings.load(project=ROOT, home=home, format=TableFormat(fmt), warehouse=warehouse))
    domain, contract = rt.domain(DOMAIN), rt.contract(DOMAIN, EVENT)
    store = rt.store_for(DOMAIN, Layer.BRONZE)
    jit_warm_up_s = warm_up(landing, contract.message_class, contract.schema)  # reported apart: jit_* of the run
    phases: dict[str, float] = {}
    _time_calls(phases, "read_and_frame", event_source, "map_file")
    _time_calls(phases, "read_and_frame", event_source, "unframe")
    _time_calls(phases, "decode_batch", ingest_service, "decode_batch")  # split below: it calls the next two
    _time_calls(phases, "decode", ingest_service, "decode_payloads")
    _time_calls(phases, "contract_checks", ingest_service, "contract_violations")
    store.append_batches = _waiting(phases, store.append_batches)  # type: ignore[method-assign]
    load_before = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    result = ingest_service.ingest_event(domain, EVENT, contract, rt.landing, rt, run_id="bench")
    seconds = time.perf_counter() - started
    phases["select_and_ingest_column"] = phases.pop("decode_batch") - phases["decode"] - phases["contract_checks"]
    phases["other"] = seconds - sum(phases.values())
    return {
        "format": fmt,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "events": result.received,
        "rows_written": result.rows_written,
        "quarantined": result.quarantined,
        "commits": len(result.commits),
        "rows_per_s": result.received / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "vm_hwm_mb": _high_water_mb(),
        "phases_seconds": phases,
        "jit_warm_up_s": jit_warm_up_s,
        "load_average_1min": [load_before, os.getloadavg()[0]],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--format", required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--warehouse", help="where the tables go (default: the home)")
    args = parser.parse_args(argv)
    json.dump(ingest(args.format, args.home, args.landing, args.warehouse), sys.stdout)


if __name__ == "__main__":
    main()
