"""The nats-py behaviour `pipelines.adapters.nats.compat.SinkClient` relies on, against a real nats-server.

A failure here after upgrading nats-py means its private parser or message dispatch changed: see the
list of private API at the top of `compat.py`.
"""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg

from pipelines.adapters.nats.compat import Sink, SinkClient
from pipelines.adapters.nats.jetstream import connect

_WAIT_S = 20.0

Received = tuple[bytes, bytes, bytes, bytes | None]


async def _client(url: str) -> SinkClient:
    client = await connect(url, client_class=SinkClient)
    assert isinstance(client, SinkClient)
    return client


async def _until(condition: asyncio.Event, what: str) -> None:
    try:
        await asyncio.wait_for(condition.wait(), _WAIT_S)
    except TimeoutError:
        raise AssertionError(f"nats-py changed? {what} within {_WAIT_S:g} s (see compat.py's private API)") from None


def _sink(kept: list[Received], done: asyncio.Event, count: int) -> Sink:
    def sink(subject: bytes, reply: bytes, payload: bytes, headers: bytes | None) -> None:
        kept.append((subject, reply, payload, headers))
        if len(kept) == count:
            done.set()

    return sink


async def _one_of_each(url: str) -> tuple[list[Received], Msg]:
    """A sink's deliveries with and without headers and reply, a no-responders status; a plain subscription beside."""
    client = await _client(url)
    try:
        inbox, done = client.new_inbox(), asyncio.Event()
        kept: list[Received] = []
        plain: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()

        async def resolve(msg: Msg) -> None:
            plain.set_result(msg)

        await client.subscribe_sink(f"{inbox}.*", _sink(kept, done, 4))
        await client.subscribe(f"{inbox}-plain", cb=resolve)
        await client.publish(f"{inbox}.a", b"with headers", reply="ack.1", headers={"Nats-Msg-Id": "event-1"})
        await client.publish(f"{inbox}.b", b"bare")
        await client.publish(f"{inbox}-plain", b"plain", headers={"Nats-Msg-Id": "event-2"})
        await client.publish(f"{inbox}.c", b"", reply="ack.3")
        await client.publish("nobody.listens.here", b"", reply=f"{inbox}.status", headers={"Nats-Msg-Id": "x"})
        await _until(done, "the sink got 4 messages")
        return kept, await asyncio.wait_for(plain, _WAIT_S)
    finally:
        await client.close()


def test_a_sink_gets_each_message_raw_and_in_order_while_other_subscriptions_get_msgs(nats_url: str) -> None:
    kept, plain = asyncio.run(_one_of_each(nats_url))
    (subject, reply, payload, headers), bare, empty, status = kept
    assert subject.endswith(b".a") and reply == b"ack.1" and payload == b"with headers"
    assert headers is not None and headers.startswith(b"NATS/1.0\r\n") and b"Nats-Msg-Id: event-1" in headers
    assert bare[1:] == (b"", b"bare", None) and empty[1:] == (b"ack.3", b"", None)
    assert (
        status[0].endswith(b".status") and status[1:3] == (b"", b"") and (status[3] or b"").startswith(b"NATS/1.0 503")
    )
    assert plain.data == b"plain" and plain.headers == {"Nats-Msg-Id": "event-2"}  # nats-py's own path, untouched


async def _many(url: str, count: int) -> tuple[list[Received], list[bytes]]:
    """`count` sink messages of sizes across the client's 32 KiB reads, a plain subscription's between them."""
    client = await _client(url)
    try:
        inbox, done = client.new_inbox(), asyncio.Event()
        kept: list[Received] = []
        plain: list[bytes] = []

        async def keep(msg: Msg) -> None:
            plain.append(msg.data)

        await client.subscribe_sink(f"{inbox}.sink", _sink(kept, done, count))
        await client.subscribe(f"{inbox}.plain", cb=keep)
        for i in range(count):
            payload = str(i).encode() * (1 + i % 50) * (400 if i % 997 == 0 else 1)  # some span several reads
            await client.publish(f"{inbox}.sink", payload, reply=f"ack.{i}", headers={"Nats-Msg-Id": str(i)})
            if i % 100 == 0:
                await client.publish(f"{inbox}.plain", str(i).encode())
        await _until(done, f"the sink got {count} messages")
        await client.flush()
        return kept, plain
    finally:
        await client.close()


def test_a_sink_gets_every_message_whole_and_in_order_across_reads_and_other_traffic(nats_url: str) -> None:
    count = 20_000
    kept, plain = asyncio.run(_many(nats_url, count))
    assert [k[1] for k in kept] == [f"ack.{i}".encode() for i in range(count)]
    assert all(k[2] == str(i).encode() * (1 + i % 50) * (400 if i % 997 == 0 else 1) for i, k in enumerate(kept))
    assert all(f"Nats-Msg-Id: {i}\r\n".encode() in (k[3] or b"") for i, k in enumerate(kept))
    assert plain == [str(i).encode() for i in range(0, count, 100)]


async def _after_unsubscribe(url: str) -> list[Received]:
    client = await _client(url)
    try:
        inbox, done = client.new_inbox(), asyncio.Event()
        kept: list[Received] = []
        sub = await client.subscribe_sink(inbox, _sink(kept, done, 1))
        await client.publish(inbox, b"before")
        await _until(done, "the sink got its message")
        await sub.unsubscribe()
        await client.publish(inbox, b"after")
        await client.flush()
        return kept
    finally:
        await client.close()


def test_an_unsubscribed_sink_gets_nothing_more(nats_url: str) -> None:
    assert [k[2] for k in asyncio.run(_after_unsubscribe(nats_url))] == [b"before"]
