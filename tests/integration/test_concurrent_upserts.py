"""Several processes upsert the same silver entity, or build the same gold product, at once: the result
equals a rebuild, nothing twice, nothing lost.

Two schedulers run the silver step of `orders.orders` (or the gold step of an orders product) over
the same new rows. Each reads the table's watermark, plans its commit and commits; the loser of the
race must find the winner's commit and plan again on it (finding nothing left to do), not commit
its plan on top. In the `killing` variant one of the silver runs is SIGKILLed at a random moment and
a last run finishes. The tables must then equal a full rebuild.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.context import ForkServerContext
from pathlib import Path

import polars as pl
import pytest

from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.services.build import build_product, build_silver
from pipelines.settings import Settings
from tests.integration import crash_harness
from tests.integration.test_incremental_silver import _classes, _ingest, _land, _silver
from tests.paths import REPO
from tests.processes import joined


def runtime_of(home: Path, fmt: str) -> Runtime:
    return Runtime(Settings.load(env={"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt}, cwd=REPO))


def upsert(home: str, fmt: str, run_id: str) -> None:
    """One silver run of `orders.orders`, in its own process."""
    runtime = runtime_of(Path(home), fmt)
    build_silver(runtime.domain("orders"), "orders", runtime, run_id)


def build(home: str, fmt: str, product: str, run_id: str) -> None:
    """One gold run of `orders.<product>`, in its own process."""
    runtime = runtime_of(Path(home), fmt)
    build_product(runtime.domain("orders"), product, runtime, run_id)


def race(
    context: ForkServerContext,
    target: Callable[..., None],
    args: Sequence[tuple[str, ...]],
    kill: random.Random | None = None,
) -> list[int | None]:
    """Run `target(*a)` for each of `args` in processes started at once; with `kill`, SIGKILL one of them
    at a random moment."""
    processes = [context.Process(target=target, args=a) for a in args]
    for process in processes:
        process.start()
    if kill is not None:
        time.sleep(kill.uniform(0.2, 2.0))
        victim = kill.choice(processes)
        if victim.is_alive():
            os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
    return joined(processes, 180)


def land_twice(runtime: Runtime) -> None:
    """Bronze of a first part of the events with silver (and gold) built on it, then bronze of the rest."""
    domain = runtime.domain("orders")
    assert domain.generator is not None
    events = list(domain.generator(_classes(runtime), 2_000, 5))
    later = set(range(0, len(events), 10))
    _land(runtime, [e for n, e in enumerate(events) if n not in later], "a-first")
    _ingest(runtime, "run-1")
    for entity in domain.spec.entities:
        build_silver(domain, entity, runtime, "run-1")
    for product in domain.spec.products:
        build_product(domain, product, runtime, "run-1")
    _land(runtime, [events[n] for n in sorted(later)], "b-later")  # new orders, late and duplicate events
    _ingest(runtime, "run-2")


@pytest.fixture(scope="module")
def forkserver() -> ForkServerContext:
    return crash_harness.forkserver()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
@pytest.mark.parametrize(("writers", "killing"), [(2, False), (2, True), (4, True)])
def test_silver_upserts_racing_equal_a_rebuild(
    tmp_path: Path, fmt: str, writers: int, killing: bool, forkserver: ForkServerContext
) -> None:
    home = tmp_path / "home"
    runtime = runtime_of(home, fmt)
    land_twice(runtime)
    kill = random.Random(f"silver-{fmt}") if killing else None
    codes = race(forkserver, upsert, [(str(home), fmt, f"race-{n}") for n in range(writers)], kill)
    assert all(code == 0 for code in codes if code != -signal.SIGKILL), codes
    build_silver(runtime.domain("orders"), "orders", runtime, "after")  # finishes what a killed run left

    state, history = _silver(runtime, "state"), _silver(runtime, "history")
    assert state["order_id"].is_duplicated().sum() == 0
    build_silver(runtime.domain("orders"), "orders", runtime, "rebuild", full=True)
    rebuilt_state, rebuilt_history = _silver(runtime, "state"), _silver(runtime, "history")
    assert (state.height, history.height) == (rebuilt_state.height, rebuilt_history.height)
    assert state.equals(rebuilt_state)
    assert history.equals(rebuilt_history)


def gold(runtime: Runtime, product: str) -> pl.DataFrame:
    table = runtime.domain("orders").product_table(product)
    frame = pl.from_arrow(runtime.store_for("orders", Layer.GOLD, product).read(table))
    assert isinstance(frame, pl.DataFrame)
    return frame.sort(frame.columns)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_gold_builds_racing_equal_a_rebuild(tmp_path: Path, fmt: str, forkserver: ForkServerContext) -> None:
    home = tmp_path / "home"
    runtime = runtime_of(home, fmt)
    land_twice(runtime)
    domain = runtime.domain("orders")
    for entity in domain.spec.entities:
        build_silver(domain, entity, runtime, "run-2")
    products = sorted(domain.spec.products)
    runs = [(str(home), fmt, product, f"race-{n}") for product in products for n in range(2)]
    assert race(forkserver, build, runs) == [0] * len(runs)

    built = {product: gold(runtime, product) for product in products}
    for product in products:
        build_product(domain, product, runtime, "rebuild", full=True)
        assert gold(runtime, product).equals(built[product]), product
