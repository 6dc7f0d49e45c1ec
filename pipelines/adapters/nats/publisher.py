"""publish_events: send events to JetStream with many acks in flight, deduplicated by event id."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable

from nats.aio.msg import Msg

from pipelines.adapters.nats.errors import PublishError
from pipelines.adapters.nats.jetstream import CONNECT_TIMEOUT_S, EventStream, LoopThread, connect, ensure_stream

IN_FLIGHT = 8_000
"""Most published events awaiting JetStream's acknowledgement at once."""


def publish_events(
    url: str,
    domain: str,
    event: str,
    events: Iterable[tuple[str, bytes]],
    *,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ack_timeout_s: float = 10.0,
) -> int:
    """Publish `(event id, payload)` pairs to `events.<domain>.<event>`, creating the stream if missing.

    Each message carries `Nats-Msg-Id: <event id>`, so JetStream stores an event once even when it is
    published again within the duplicate window (2 minutes). An event without an id (a producer bug)
    is published without the header: the stream keeps it and bronze quarantines it, rather than the
    publisher dropping it. Publishes are pipelined: up to `IN_FLIGHT`
    await their acknowledgement while more are sent.

    Args:
        url: the NATS server.
        domain: the domain, which names the stream `EVENTS_<DOMAIN>`.
        event: the event type, the last token of the subject.
        events: event id and serialised event, in publishing order.
        connect_timeout_s: how long connecting may take.
        ack_timeout_s: the longest wait for JetStream's next acknowledgement.

    Returns:
        How many events JetStream stored. Events it dropped as duplicates of an id it already holds
        are acknowledged but not counted.

    Raises:
        NatsUnavailableError: the server cannot be reached.
        PublishError: some events were refused or not acknowledged; the message says how many.
        ValueError: an event id holds a line break.
    """
    names = EventStream(domain, event)
    loop = LoopThread("nats-publish")
    try:
        return loop.run(_publish(url, names, events, connect_timeout_s, ack_timeout_s))
    finally:
        loop.close()


class _Acks:
    """JetStream's answers to the publishes, counted as they arrive."""

    def __init__(self) -> None:
        self.in_flight: dict[int, str] = {}
        self.answered = 0
        self.stored = 0
        self.errors: list[str] = []
        self._progress = asyncio.Event()

    async def on_answer(self, msg: Msg) -> None:
        index = int(msg.subject.rsplit(".", 1)[1])
        event_id = self.in_flight.pop(index, None)
        if event_id is None:
            return
        self.answered += 1
        data, headers = msg.data, msg.headers or {}
        status = headers.get("Status")
        if status:
            self.errors.append(f"event {event_id!r}: status {status} {headers.get('Description', '')}".strip())
        elif b'"error"' in data:
            error = json.loads(data).get("error", {})
            self.errors.append(f"event {event_id!r}: {error.get('description', data.decode(errors='replace'))}")
        elif b'"duplicate"' not in data:  # JetStream adds `"duplicate": true` only to duplicates
            self.stored += 1
        self._progress.set()

    async def wait_until(self, answered: int, timeout_s: float, url: str) -> None:
        """Wait until `answered` answers arrived, as long as one arrives every `timeout_s`."""
        while self.answered < answered:
            before = self.answered
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), timeout_s)
            if self.answered == before:
                raise PublishError(
                    f"JetStream at {url} acknowledged nothing for {timeout_s:g} s; {len(self.in_flight)} events "
                    f"unacknowledged, {self.stored} stored; publishing them again is safe"
                )


async def _publish(
    url: str, names: EventStream, events: Iterable[tuple[str, bytes]], connect_timeout_s: float, ack_timeout_s: float
) -> int:
    client = await connect(url, connect_timeout_s)
    acks = _Acks()
    try:
        await ensure_stream(client.jetstream(timeout=ack_timeout_s), names.domain)
        inbox = client.new_inbox()
        sub = await client.subscribe(f"{inbox}.*", cb=acks.on_answer, pending_msgs_limit=4 * IN_FLIGHT)
        sent = 0
        for event_id, payload in events:
            if "\n" in event_id or "\r" in event_id:
                raise ValueError(f"event id {event_id!r} cannot be a Nats-Msg-Id (it holds a line break)")
            if sent - acks.answered >= IN_FLIGHT:
                await acks.wait_until(sent - IN_FLIGHT // 2, ack_timeout_s, url)
            acks.in_flight[sent] = event_id
            headers = {"Nats-Msg-Id": event_id} if event_id else None
            await client.publish(names.subject, payload, reply=f"{inbox}.{sent}", headers=headers)
            sent += 1
        await acks.wait_until(sent, ack_timeout_s, url)
        await sub.unsubscribe()
    finally:
        await client.close()
    if acks.errors:
        raise PublishError(
            f"JetStream at {url} refused {len(acks.errors)} of {sent} events on {names.subject} "
            f"({acks.stored} stored); first: {acks.errors[0]}"
        )
    return acks.stored
