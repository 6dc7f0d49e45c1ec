"""What write-audit-publish adds to a gold build: the sample project's `orders.order_facts`, in each format.

`run(results)` adds, per format (the same silver tables, rebuilt in full each time so every sample
does the same work; the three kinds of build alternate, `REPEATS` times):
- `wap.ratio_vs_commit.<fmt>`: a build through write-audit-publish (a candidate committed, the
  contract checked on it, then published) ÷ the same build committed straight to the table
  (the medians; the samples and their spread are reported too).
- `wap.ratio_vs_commit_then_check.<fmt>`: the same ÷ the build as it ran before write-audit-publish
  (commit, then the checks on the committed table): what publishing itself adds.
- `wap.cpu_ratio_*`: the same ratios of CPU time (every thread), steadier than wall time on a shared
  machine; the samples, their spread and the highest 1-minute load average are in `detail.<fmt>`.

The inputs do not change between builds, so the straight commit of `order_facts` (keyed) replaces
no key: it computes the product and commits nothing more, while write-audit-publish also reads the
whole candidate for its checks.
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.generate import ROOT
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.generation import generate_landing
from pipelines.services.build import build_product, build_silver, published_inputs
from pipelines.services.contracts import evaluate_product
from pipelines.services.ingest import ingest_event
from pipelines.services.wap import write_audit_publish
from pipelines.settings import Settings

EVENTS, QUICK_EVENTS = 200_000, 20_000
REPEATS = 5
PRODUCT = "order_facts"


def _prepared(fmt: str, home: Path, events: int) -> Runtime:
    """A runtime on `home` whose orders bronze and silver tables hold `events` generated events."""
    runtime = Runtime(Settings.load(project=ROOT, env={}, home=home, format=fmt))
    domain = runtime.domain("orders")
    generate_landing(runtime, "orders", events, seed=11, files=2)
    for event in domain.spec.events:
        ingest_event(domain, event, runtime.contract("orders", event), runtime.landing, runtime, "bench")
    for entity in domain.spec.entities:
        build_silver(domain, entity, runtime, "bench")
    build_product(domain, PRODUCT, runtime, "bench", full=True)
    return runtime


def _seconds(work: Callable[[], Any]) -> tuple[float, float]:
    """The wall and CPU seconds (every thread of the process) of `work`."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(fmt: str, home: Path, events: int, repeats: int = REPEATS) -> dict[str, Any]:
    """The medians and samples of each kind of build, and the ratios of the medians."""
    runtime = _prepared(fmt, home, events)
    domain = runtime.domain("orders")
    granted = published_inputs("orders", [d.spec for d in runtime.domains.values()])

    def commit() -> None:
        build_product(domain, PRODUCT, runtime, "commit", granted, full=True)

    def commit_then_check() -> None:
        commit()
        evaluate_product(domain, PRODUCT, runtime, granted)

    def wap() -> None:
        audited = write_audit_publish(domain, PRODUCT, runtime, "wap", granted, full=True)
        assert audited.publication.published, audited.publication.message

    kinds = {"commit": commit, "commit_then_check": commit_then_check, "wap": wap}
    walls: dict[str, list[float]] = {kind: [] for kind in kinds}
    cpus: dict[str, list[float]] = {kind: [] for kind in kinds}
    load = os.getloadavg()[0]
    for _ in range(repeats):
        for kind, work in kinds.items():
            wall, cpu = _seconds(work)
            walls[kind].append(wall)
            cpus[kind].append(cpu)
    medians = {kind: statistics.median(taken) for kind, taken in walls.items()}
    cpu_medians = {kind: statistics.median(taken) for kind, taken in cpus.items()}
    return {
        "medians_s": medians,
        "cpu_medians_s": cpu_medians,
        "samples_s": {kind: [round(s, 4) for s in taken] for kind, taken in walls.items()},
        "cpu_samples_s": {kind: [round(s, 4) for s in taken] for kind, taken in cpus.items()},
        "spread_s": {kind: round(max(taken) - min(taken), 4) for kind, taken in walls.items()},
        "cpu_spread_s": {kind: round(max(taken) - min(taken), 4) for kind, taken in cpus.items()},
        "ratio_vs_commit": medians["wap"] / medians["commit"],
        "ratio_vs_commit_then_check": medians["wap"] / medians["commit_then_check"],
        "cpu_ratio_vs_commit": cpu_medians["wap"] / cpu_medians["commit"],
        "cpu_ratio_vs_commit_then_check": cpu_medians["wap"] / cpu_medians["commit_then_check"],
        "load_average": max(load, os.getloadavg()[0]),
        "rows": runtime.store_for("orders", Layer.GOLD, PRODUCT).read(domain.product_table(PRODUCT)).num_rows,
    }


def run(results: dict[str, Any], quick: bool = False, formats: tuple[str, ...] = ("iceberg", "delta")) -> None:
    """Measure write-audit-publish against committing alone and add the figures to `results`."""
    events = QUICK_EVENTS if quick else EVENTS
    with tempfile.TemporaryDirectory(prefix="meshlake-wap-bench-") as tmp:
        for fmt in formats:
            found = measure(fmt, Path(tmp) / fmt, events)
            for ratio in ("ratio_vs_commit", "ratio_vs_commit_then_check"):
                results[f"{ratio}.{fmt}"] = found[ratio]
                results[f"cpu_{ratio}.{fmt}"] = found[f"cpu_{ratio}"]
            results[f"commit_s.{fmt}"] = found["medians_s"]["commit"]
            results[f"wap_s.{fmt}"] = found["medians_s"]["wap"]
            results[f"detail.{fmt}"] = found
        results["events"] = events
        results["ratio_is"] = f"median of {REPEATS} full gold builds of orders.{PRODUCT} of each kind, alternated"
