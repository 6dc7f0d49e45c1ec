"""Two and four processes run a domain's whole pipeline on the same tables at once, one is killed: a rebuild equals it.

Each writer is a separate process (two schedulers, a scheduler and a manual run, outside one Dagster
pool) running the orders domain twice over: bronze of every event type from the same landing
files, then silver, then gold. The writers start a little apart, so that one's gold build races
another's silver upsert and bronze commits, and more landing files arrive while they run. One
writer, picked at random, is SIGKILLed at a random moment soon after the layer a case names (bronze,
silver or gold) gets a commit. A last run finishes what it left.

Then every frame of the landing files is in bronze or quarantine exactly once (0 duplicated, 0
lost), and silver and gold equal a full rebuild from bronze, on Iceberg and Delta, on the local disk
and on S3 (SeaweedFS).
"""

from __future__ import annotations

import os
import random
import signal
import time
from multiprocessing.context import ForkServerContext
from pathlib import Path

import pytest

from pipelines.adapters.seaweedfs import SeaweedServer
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.generation import generate_landing
from pipelines.services.build import build_product, build_silver
from pipelines.services.ingest import ingest_event
from pipelines.settings import Settings
from tests.integration import crash_harness
from tests.paths import MESH
from tests.processes import joined
from tests.rebuild import NO_FRAME_ERRORS, assert_equals_a_rebuild, frame_errors, tables

DOMAIN = "orders"
EVENTS_PER_WAVE, FILES_PER_EVENT = 800, 4


def runtime_of(env: dict[str, str]) -> Runtime:
    return Runtime(Settings.load(project=MESH, env=env))


def pipeline(env: dict[str, str], run_id: str, passes: int) -> None:
    """`passes` runs of the domain's pipeline (bronze, silver, gold), as a scheduler would start them."""
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # the process may reach S3: never the metadata service
    runtime = runtime_of(env)
    domain = runtime.domain(DOMAIN)
    for n in range(passes):
        run = f"{run_id}-{n}"
        for event in domain.spec.events:
            contract = runtime.contract(DOMAIN, event)
            ingest_event(domain, event, contract, runtime.landing, runtime, run, max_rows_per_commit=200)
        for entity in domain.spec.entities:
            build_silver(domain, entity, runtime, run)
        for product in domain.spec.products:
            build_product(domain, product, runtime, run)


def commits(runtime: Runtime, layer: Layer) -> int:
    """Commits made to the layer's tables so far."""
    total = 0
    for product, table in tables(runtime, DOMAIN)[layer]:
        store = runtime.store_for(DOMAIN, layer, product)
        total += len(store.history(table)) if store.exists(table) else 0
    return total


def race(
    context: ForkServerContext, runtime: Runtime, env: dict[str, str], writers: int, layer: Layer, rng: random.Random
) -> list[int | None]:
    """Start `writers` pipelines a little apart, land a second wave of files meanwhile, and SIGKILL one
    writer at a random moment soon after `layer` gets a commit."""
    processes = [context.Process(target=pipeline, args=(env, f"race-{n}", 2)) for n in range(writers)]
    for process in processes:
        process.start()
        time.sleep(rng.uniform(0, 0.5))
    before = commits(runtime, layer)
    victim = rng.choice(processes)
    landed_second = False
    deadline = time.monotonic() + 240
    while victim.is_alive() and time.monotonic() < deadline:
        if not landed_second and commits(runtime, Layer.SILVER):
            generate_landing(runtime, DOMAIN, EVENTS_PER_WAVE, seed=2, files=FILES_PER_EVENT)
            landed_second = True
        if commits(runtime, layer) > before:
            time.sleep(rng.uniform(0, 0.3))
            os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
            break
        time.sleep(0.05)
    exits = joined(processes, 300)
    if not landed_second:
        generate_landing(runtime, DOMAIN, EVENTS_PER_WAVE, seed=2, files=FILES_PER_EVENT)
    return exits


@pytest.fixture(scope="module")
def forkserver() -> ForkServerContext:
    return crash_harness.forkserver()


def storage(request: pytest.FixtureRequest, where: str, tmp_path: Path) -> dict[str, str]:
    """Settings of a home on the local disk, or of one whose tables and landing files are on S3."""
    env = {"MESHLAKE_HOME": str(tmp_path / "home")}
    if where == "s3":
        server: SeaweedServer = request.getfixturevalue("s3_server")
        prefix: str = request.getfixturevalue("s3_prefix")
        env |= {
            "MESHLAKE_WAREHOUSE": f"{prefix}/warehouse",
            "MESHLAKE_LANDING": f"{prefix}/landing",
            "MESHLAKE_S3_ENDPOINT": server.endpoint,
            "MESHLAKE_S3_ACCESS_KEY_ID": server.access_key,
            "MESHLAKE_S3_SECRET_ACCESS_KEY": server.secret_key,
        }
    return env


@pytest.mark.slow
@pytest.mark.parametrize(
    ("where", "writers", "fmt", "layer"),
    [  # each format with 2 and 4 writers; on S3 (the slowest) each format and each number of writers once
        ("local", 2, "iceberg", Layer.GOLD),
        ("local", 2, "delta", Layer.BRONZE),
        ("local", 4, "iceberg", Layer.SILVER),
        ("local", 4, "delta", Layer.GOLD),
        ("s3", 2, "delta", Layer.GOLD),
        ("s3", 4, "iceberg", Layer.SILVER),
    ],
    ids=str,
)
def test_writers_racing_through_every_layer_with_one_killed_equal_a_rebuild(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    where: str,
    writers: int,
    fmt: str,
    layer: Layer,
    forkserver: ForkServerContext,
) -> None:
    """The writer is killed at a random moment after `layer` (bronze, silver or gold) gets a commit."""
    env = storage(request, where, tmp_path) | {"MESHLAKE_FORMAT": fmt}
    runtime = runtime_of(env)
    generate_landing(runtime, DOMAIN, EVENTS_PER_WAVE, seed=1, files=FILES_PER_EVENT)
    rng = random.Random(f"pipelines-{where}-{fmt}-{writers}")

    codes = race(forkserver, runtime, env, writers, layer, rng)
    assert codes.count(-signal.SIGKILL) == 1, codes
    assert all(code == 0 for code in codes if code != -signal.SIGKILL), codes
    pipeline(env, "after", 1)  # finishes what the killed writer left

    assert frame_errors(runtime, DOMAIN) == NO_FRAME_ERRORS
    assert_equals_a_rebuild(runtime, DOMAIN)
