"""One format's ingest, run in its own process so its peak RSS is its own: `python -m benchmarks.ingest_worker`.

Times `ingest_event` (landing files → framing → decoding → contract checks → one committed bronze
table) through the real service and `open_table_store`; opening the store (importing pyiceberg or
deltalake) happens before the clock starts. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from benchmarks.data import DOMAIN, EVENT, runtime
from pipelines.core.names import Layer
from pipelines.services.ingest import ingest_event


def ingest(fmt: str, home: Path, landing: Path) -> dict[str, float | int | str]:
    """Ingest every landing file under `landing` into a fresh bronze table of format `fmt` under `home`."""
    target = home / "landing" / DOMAIN / EVENT
    target.mkdir(parents=True)
    for source in sorted((landing / DOMAIN / EVENT).iterdir()):
        os.link(source, target / source.name)  # same bytes, no copy
    rt = runtime(home, fmt)
    domain, contract = rt.domain(DOMAIN), rt.contract(DOMAIN, EVENT)
    rt.store_for(DOMAIN, Layer.BRONZE)
    started, cpu = time.perf_counter(), time.process_time()
    result = ingest_event(domain, EVENT, contract, rt.landing, rt, run_id="bench")
    seconds = time.perf_counter() - started
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
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--format", required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--landing", type=Path, required=True)
    args = parser.parse_args(argv)
    json.dump(ingest(args.format, args.home, args.landing), sys.stdout)


if __name__ == "__main__":
    main()
