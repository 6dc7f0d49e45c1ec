"""kill -9 bronze ingestion from NATS JetStream at 17 points, then re-run: every stored event lands exactly once.

Generated orders events (producer retries included: the generator repeats some events, and the test
sends the tail of its first publish again with the second) go to a real nats-server, whose
`Nats-Msg-Id` window keeps each id once. Bronze ingestion of `orders.order_placed` through the runtime's
event source (`MESHLAKE_NATS_URL`, small pulls and commits) runs in processes forked from the crash
tests' forkserver and is SIGKILLed at a named stage or at a random moment after its first bronze commit:

- `files-written`: a bronze commit's data files are written, its commit is not (as in `crash_worker`).
- `bronze-committed`: the bronze commit returned, nothing after it happened.
- `quarantine-committed`: the quarantine commit returned, the bronze commit has not started.
- `before-ack`: inside `NatsEventSource.acknowledge`, before the ack is sent: the ledger says consumed
  while the stream still holds the messages unacknowledged (the test checks that it does).
- `delivered`: a batch was pulled (and awaits its ack) but not committed.

A final run must leave bronze holding every stored event exactly once (event id, stream sequence),
quarantine every contract-breaking one exactly once, and the durable consumer nothing pending.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cached_property
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from pipelines.adapters.nats import NatsEventSource, publish_events
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.core.positions import Ledger
from pipelines.generation import generate_events
from pipelines.ports.event_source import RawBatch
from pipelines.services.ingest import ingest_event
from pipelines.settings import Settings
from tests.integration import crash_harness
from tests.integration.crash_worker import KillingTables, Stage, patch_iceberg_commits, referenced_and_present
from tests.integration.ingest_helpers import ORDER_PLACED, orders_domain
from tests.paths import MESH

EVENTS, SEED, RETRIED = 3_000, 11, 150
BATCH, ROWS_PER_COMMIT = 50, 100  # two pulls per commit, about 26 commits over all the events
NOW = datetime(2026, 12, 1, tzinfo=UTC)  # after every generated event time
SOURCE, STREAM, DURABLE = "nats:EVENTS_ORDERS/order_placed", "EVENTS_ORDERS", "bronze_orders_order_placed"
SUBJECT = "events.orders.order_placed"
PLAN = [
    "files-written:1",
    "before-ack:1",
    "delivered:3",
    "before-ack:2",
    "bronze-committed:1",
    "timed",
    "quarantine-committed:1",
    "before-ack:3",  # the second half of the events is published before this run
    "files-written:2",
    "timed",
    "delivered:1",
    "before-ack:1",
    "timed",
    "bronze-committed:2",
    "timed",
    "before-ack:2",
    "files-written:1",
]
PUBLISH_REST_AT = PLAN.index("before-ack:3")
Key = tuple[str, int]
Generated = dict[str, list[tuple[str, bytes]]]
"""(message id, payload) of each generated event, by event type."""


class CrashRuntime(Runtime):
    """The runtime, with a NATS source pulling small batches so that a run makes several commits."""

    @cached_property
    def nats(self) -> NatsEventSource | None:
        return NatsEventSource(self.settings.nats_url or "", batch_size=BATCH)


def crash_runtime(home: Path, fmt: str, url: str) -> CrashRuntime:
    """A runtime on `home` with every table in `fmt` and bronze reading `url` (`MESHLAKE_NATS_URL`)."""
    env = {"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt, "MESHLAKE_NATS_URL": url}
    return CrashRuntime(Settings.load(project=MESH, env=env), domains=[orders_domain()])


def patch_nats_source(stage: Stage) -> None:
    """Reach `delivered` after each batch the source yields and `before-ack` before each ack it sends."""
    batches, acknowledge = NatsEventSource.batches, NatsEventSource.acknowledge

    def delivering(self: NatsEventSource, domain: str, event: str, ledger: Ledger) -> Iterator[RawBatch]:
        for batch in batches(self, domain, event, ledger):
            stage.reached("delivered")
            yield batch

    def acknowledging(self: NatsEventSource, batch: RawBatch) -> None:
        stage.reached("before-ack")
        acknowledge(self, batch)

    NatsEventSource.batches = delivering  # type: ignore[method-assign]
    NatsEventSource.acknowledge = acknowledging  # type: ignore[method-assign]


def ingest(home: str, fmt: str, url: str, stage_spec: str) -> None:
    """The killed process: one bronze ingestion of `orders.order_placed` from NATS, dying at `stage_spec`."""
    stage = Stage(stage_spec)
    if fmt == "iceberg":
        patch_iceberg_commits(stage)
    patch_nats_source(stage)
    runtime = crash_runtime(Path(home), fmt, url)
    try:
        ingest_event(
            runtime.domain("orders"),
            "order_placed",
            runtime.contract("orders", "order_placed"),
            runtime.event_source,
            KillingTables(runtime, stage),
            f"run-{os.getpid()}",
            clock=lambda: NOW,
            max_rows_per_commit=ROWS_PER_COMMIT,
        )
    finally:
        if runtime.nats is not None:
            runtime.nats.close()


@pytest.fixture(scope="module")
def forkserver() -> ForkServerContext:
    """Processes forked from the crash tests' forkserver, which imported this module once."""
    return crash_harness.forkserver()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """The orders generator's events.

    An event the generator stripped of its id (to break its contract) gets a stand-in id from its
    bytes, since `publish_events` needs one for JetStream's duplicate window.
    """
    home = tmp_path_factory.mktemp("generate")
    runtime = Runtime(Settings.load(project=MESH, env={"MESHLAKE_HOME": str(home)}))
    events = generate_events(runtime, "orders", EVENTS, SEED)
    return {
        event: [(i or f"no-id-{hashlib.sha256(p).hexdigest()[:16]}", p) for i, p in items]
        for event, items in events.items()
    }


def publish(url: str, generated: Generated, part: int) -> int:
    """Publish the first two thirds of each event type (part 0) or the rest, the last `RETRIED` of part 0 again."""
    stored = 0
    for event, items in sorted(generated.items()):
        cut = len(items) * 2 // 3
        stored += publish_events(url, "orders", event, items[:cut] if part == 0 else items[cut - RETRIED :])
    return stored


def stream_messages(url: str) -> list[tuple[int, str, bytes]]:
    """Every message JetStream stores on `events.orders.order_placed`: (sequence, Nats-Msg-Id, payload)."""

    async def read() -> list[tuple[int, str, bytes]]:
        client = await nats.connect(url)
        try:
            js = client.jetstream()
            config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL)
            sub = await js.pull_subscribe(SUBJECT, stream=STREAM, config=config)
            found: list[tuple[int, str, bytes]] = []
            pending = (await sub.consumer_info()).num_pending or 0
            while len(found) < pending:
                for msg in await sub.fetch(1000, timeout=5):
                    found.append((msg.metadata.sequence.stream, (msg.headers or {})["Nats-Msg-Id"], msg.data))
            await sub.unsubscribe()
            return found
        finally:
            await client.close()

    return asyncio.run(read())


def unacked_below_ledger(url: str, runtime: Runtime) -> tuple[int, int, int]:
    """(messages awaiting their ack, the consumer's ack floor, the ledger's last consumed sequence)."""

    async def info() -> Any:
        client = await nats.connect(url)
        try:
            return await client.jetstream().consumer_info(STREAM, DURABLE)
        finally:
            await client.close()

    consumer = asyncio.run(info())
    bronze = runtime.domain("orders").bronze_table("order_placed")
    ledger = Ledger.from_commits(c.properties for c in runtime.store_for("orders", Layer.BRONZE).history(bronze))
    return consumer.num_ack_pending, consumer.ack_floor.stream_seq, ledger.consumed_until(SOURCE) - 1


def breaks_contract(message: Any) -> bool:
    """What the generator's defects do to an OrderPlaced: no id, no order, no time, a time in the future."""
    return (
        not message.event_id
        or not message.order_id
        or not message.HasField("placed_at")
        or message.placed_at.ToDatetime(UTC) > NOW
    )


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_kill_9_at_any_point_then_rerun_lands_every_nats_event_exactly_once(
    tmp_path: Path, fmt: str, nats_url: str, forkserver: ForkServerContext, generated: Generated
) -> None:
    home = tmp_path / "home"
    runtime = crash_runtime(home, fmt, nats_url)
    stored = publish(nats_url, generated, 0)
    rng = random.Random(f"crash-nats-{fmt}")
    outcomes: list[tuple[str, int | None]] = []
    for number, stage in enumerate(PLAN):
        if number == PUBLISH_REST_AT:
            stored += publish(nats_url, generated, 1)
        timed = stage == "timed"
        args = (str(home), fmt, nats_url, "none" if timed else stage)
        outcomes.append((stage, crash_harness.run(forkserver, ingest, args, home, fmt, rng if timed else None)))
        if stage.startswith("before-ack"):  # the key case: committed in bronze, unacknowledged in the stream
            unacked, ack_floor, committed = unacked_below_ledger(nats_url, runtime)
            assert unacked > 0 and ack_floor < committed, (stage, unacked, ack_floor, committed)

    killed = [stage for stage, code in outcomes if code == -signal.SIGKILL]
    assert len(killed) >= 10, outcomes
    assert all(code == -signal.SIGKILL for stage, code in outcomes if stage != "timed"), outcomes
    added, present = referenced_and_present(home, fmt)
    assert present > added, "no kill fell between writing data files and committing them"

    assert crash_harness.run(forkserver, ingest, (str(home), fmt, nats_url, "none"), home, fmt) == 0
    commits = crash_harness.bronze_commits_on_disk(home, fmt)
    assert crash_harness.run(forkserver, ingest, (str(home), fmt, nats_url, "none"), home, fmt) == 0
    assert crash_harness.bronze_commits_on_disk(home, fmt) == commits  # a run after the recovery finds nothing

    messages = stream_messages(nats_url)
    published = {event_id for items in generated.values() for event_id, _ in items}
    assert stored == len(published)  # every producer retry dropped by the duplicate window
    assert len({event_id for _, event_id, _ in messages}) == len(messages)
    cls = runtime.schemas.message_class(ORDER_PLACED)
    bad = {seq for seq, _, payload in messages if breaks_contract(cls.FromString(payload))}
    assert bad, "the generated events should include contract-breaking ones"

    bronze = runtime.store_for("orders", Layer.BRONZE).read(runtime.domain("orders").bronze_table("order_placed"))
    ingest_column = bronze.column("_ingest").combine_chunks()
    assert set(ingest_column.field("source").to_pylist()) == {SOURCE}
    landed: Counter[Key] = Counter(
        zip(bronze.column("event_id").to_pylist(), ingest_column.field("offset").to_pylist(), strict=True)
    )
    assert landed == Counter((event_id, seq) for seq, event_id, _ in messages if seq not in bad)  # exactly once
    quarantine = runtime.store_for("orders", Layer.QUARANTINE).read(runtime.domain("orders").quarantine_table())
    rejected = Counter(
        zip(quarantine.column("source").to_pylist(), quarantine.column("offset").to_pylist(), strict=True)
    )
    assert rejected == Counter((SOURCE, seq) for seq in bad)
    with NatsEventSource(nats_url) as source:
        assert source.backlog("orders", "order_placed") == 0


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_reject_is_quarantined_once_when_the_stream_grew_after_a_kill_between_the_commits(
    tmp_path: Path, fmt: str, nats_url: str, forkserver: ForkServerContext
) -> None:
    """Killed between the quarantine and bronze commits, the re-run reads a longer first batch (the stream
    grew meanwhile), whose range reaches past what quarantine holds: its old reject must not come again."""
    home = tmp_path / "home"
    runtime = crash_runtime(home, fmt, nats_url)
    cls = runtime.schemas.message_class(ORDER_PLACED)

    def good(n: int) -> tuple[str, bytes]:
        message = cls(event_id=f"E{n}", order_id=f"O{n}", customer_id="C1", total_cents=n)
        message.placed_at.FromSeconds(1_780_000_000 + n)
        return f"E{n}", message.SerializeToString()

    assert publish_events(nats_url, "orders", "order_placed", [good(n) for n in range(1, 10)]) == 9
    assert publish_events(nats_url, "orders", "order_placed", [("garbage", b"\xff\xff\xff\xff")]) == 1  # seq 10
    args = (str(home), fmt, nats_url, "quarantine-committed:1")
    assert crash_harness.run(forkserver, ingest, args, home, fmt) == -signal.SIGKILL  # one batch, [1, 11)
    assert publish_events(nats_url, "orders", "order_placed", [good(n) for n in range(11, 31)]) == 20
    assert crash_harness.run(forkserver, ingest, (str(home), fmt, nats_url, "none"), home, fmt) == 0  # [1, 31)

    bronze = runtime.store_for("orders", Layer.BRONZE).read(runtime.domain("orders").bronze_table("order_placed"))
    assert sorted(bronze.column("_ingest").combine_chunks().field("offset").to_pylist()) == [
        *range(1, 10),
        *range(11, 31),
    ]
    quarantine = runtime.store_for("orders", Layer.QUARANTINE).read(runtime.domain("orders").quarantine_table())
    assert quarantine.column("offset").to_pylist() == [10]
