"""NatsEventSource: the EventSource of NATS JetStream, one durable pull consumer per bronze table.

Exactly-once design: the table's ledger is the truth, the consumer is only a cursor.

- `batches()` first compares the durable consumer `bronze_<domain>_<event>` with the ledger. It is
  reused when nothing is awaiting an ack and its last delivered sequence is the ledger's position minus
  one. Otherwise (a previous process died holding deliveries, a commit happened but its ack did not,
  the table was reset) the consumer is deleted and recreated to deliver from the ledger's position
  (`DeliverPolicy.BY_START_SEQUENCE`). A re-run after `kill -9` therefore gets the unacknowledged
  messages at once instead of after the ack wait, and never gets what the table already holds.
- Messages are pulled with `no_wait` requests, so a run ends as soon as the consumer has nothing
  pending, or once it passed the stream's last sequence at the start (fast producers cannot keep a
  run going forever). A delivered message below the ledger's position (committed, ack lost) is acked
  and not yielded; one yielded earlier in this run (redelivered after the ack wait) is skipped. A pull
  the server cannot finish (the caller holds `max_ack_pending` unacked messages) ends the run, and its
  inbox is replaced so that the abandoned pull can never deliver into a later one.
- The consumer uses `AckPolicy.ALL`: `acknowledge()` acks the batch's last message, which acks the
  batch and everything before it in one confirmed round trip (acking each message costs ~8 µs, as
  much as decoding it). Batches must be acknowledged in order, as commits are.
- Ranges tile the sequence space: a batch starts where the ledger (or the previous batch) ended, so
  sequences of other events of the same stream fall inside and the ranges of a source are contiguous.
- Streams keep messages after acks (limits retention), so a ledger can always be replayed. A ledger
  past the stream's end (stream deleted and recreated) is refused rather than silently skipping.
- One ingestion run per bronze table at a time (as Dagster runs an asset); two concurrent runs would
  share the consumer and split its messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy, ReplayPolicy

from pipelines.adapters.nats.errors import NatsUnavailableError, StreamResetError
from pipelines.adapters.nats.jetstream import CONNECT_TIMEOUT_S, EventStream, LoopThread, connect, ensure_stream
from pipelines.core.positions import Ledger, PositionRange
from pipelines.ports.event_source import RawBatch

MAX_PULL_BYTES = 64 * 1024 * 1024
_API_TIMEOUT_S = 5.0
_log = logging.getLogger(__name__)
_PULL_ENDS = ("404", "408", "409 Batch Completed")
"""Statuses that end a pull normally: nothing (more) pending, or the batch was filled (nats-server 2.10 and
later say so after the last message; 2.9 said nothing)."""


@dataclass
class _Pull:
    """One pull request in flight and what it delivered so far."""

    reply: str
    consumer: tuple[str, str]
    want: int
    seqs: list[int] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    acks: list[str] = field(default_factory=list)
    pending: int = -1
    status: str = ""
    dropped: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class _AckToken:
    owner: int
    reply: str
    last_seq: int


class NatsEventSource:
    """Events of `events.<domain>.<event>` from JetStream, resumed from the bronze table's ledger.

    Sync facade over nats-py: the client lives on a private event loop in a daemon thread, connected
    lazily on first use and released by `close()` (or the context manager).

    Args:
        url: the NATS server, e.g. `nats://127.0.0.1:4222`.
        batch_size: most messages per batch.
        fetch_timeout_s: the longest a pull may go without receiving anything from the server.
        ack_wait_s: the consumer's ack wait; keep it longer than decoding and committing a batch.
        max_ack_pending: how many delivered messages may await their ack (the ingestor acks only
            after its commit, up to `max_rows_per_commit` rows); at least `batch_size`.
        connect_timeout_s: how long connecting may take before `NatsUnavailableError`.
    """

    def __init__(
        self,
        url: str,
        batch_size: int = 10_000,
        fetch_timeout_s: float = 1.0,
        *,
        ack_wait_s: float = 300.0,
        max_ack_pending: int = 1_000_000,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        if batch_size < 1 or fetch_timeout_s <= 0 or ack_wait_s <= 0:
            raise ValueError("batch_size, fetch_timeout_s and ack_wait_s must be positive")
        self.url = url
        self.batch_size = batch_size
        self.fetch_timeout_s = fetch_timeout_s
        self.ack_wait_s = ack_wait_s
        self.max_ack_pending = max(max_ack_pending, batch_size)
        self.connect_timeout_s = connect_timeout_s
        self._loop: LoopThread | None = None
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._inbox = ""
        self._sub: Subscription | None = None
        self._pull: _Pull | None = None
        self._ids = itertools.count(1)

    def __enter__(self) -> NatsEventSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def batches(self, domain: str, event: str, ledger: Ledger) -> Iterator[RawBatch]:
        """Yield what `ledger` does not hold yet, oldest first, until the consumer has nothing pending.

        Raises:
            NatsUnavailableError: the server cannot be reached.
            StreamResetError: the ledger is past the end of the stream.
        """
        names = EventStream(domain, event)
        last_seq = self._connected().run(self._prepare(names, ledger.consumed_until(names.source)))
        seen_end = 0
        while True:
            floor = ledger.consumed_until(names.source)
            pull = self._connected().run(self._fetch(names, floor))
            fresh, nxt = [], max(floor, seen_end)
            for i, seq in enumerate(pull.seqs):
                if seq >= nxt:  # below: committed (acked by _fetch) or yielded earlier in this run
                    fresh.append(i)
                    nxt = seq + 1
            if fresh:
                offsets = [pull.seqs[i] for i in fresh]
                start = max(floor, seen_end) or offsets[0]
                seen_end = offsets[-1] + 1
                yield RawBatch(
                    source=names.source,
                    range=PositionRange(names.source, start, seen_end),
                    payloads=[pull.payloads[i] for i in fresh],
                    offsets=offsets,
                    ack_token=_AckToken(id(self), pull.acks[fresh[-1]], offsets[-1]),
                )
            if pull.dropped or not pull.seqs or pull.pending == 0 or pull.seqs[-1] >= last_seq:
                return  # drained, or past what the stream held at the start: a run always ends

    def acknowledge(self, batch: RawBatch) -> None:
        """Ack the batch and everything before it; call only after the bronze commit succeeded.

        A failed ack is logged, not raised: the commit holds the data, and the next run resets the
        consumer from the ledger.

        Raises:
            ValueError: the batch does not come from this source.
        """
        token = batch.ack_token
        if not isinstance(token, _AckToken) or token.owner != id(self):
            raise ValueError(f"batch of {batch.source} was not read by this NatsEventSource")
        try:
            self._connected().run(self._ack(token.reply))
        except (nats.errors.Error, TimeoutError) as exc:
            _log.warning("ack of %s up to sequence %d failed: %s", batch.source, token.last_seq, exc)

    def backlog(self, domain: str, event: str) -> int:
        """Messages of `events.<domain>.<event>` not yet consumed: pending plus awaiting their ack.

        Before the first run (no consumer yet) it is the count of the subject's messages in the stream.
        """
        return self._connected().run(self._backlog(EventStream(domain, event)))

    def close(self) -> None:
        """Disconnect and stop the private event loop; the source reconnects if used again."""
        loop, client = self._loop, self._client
        self._loop, self._client, self._js, self._pull, self._sub = None, None, None, None, None
        if loop is None:
            return
        if client is not None:
            try:
                loop.run(client.close(), _API_TIMEOUT_S)
            except Exception as exc:
                _log.warning("closing the NATS connection to %s: %s", self.url, exc)
        loop.close()

    def _connected(self) -> LoopThread:
        if self._loop is None:
            self._loop = LoopThread(f"nats-source {self.url}")
        if self._client is None:
            try:
                self._client = self._loop.run(self._open())
            except BaseException:
                self.close()
                raise
        return self._loop

    async def _open(self) -> Client:
        client = await connect(self.url, self.connect_timeout_s, on_error=self._on_error)
        self._js = client.jetstream(timeout=_API_TIMEOUT_S)
        await self._subscribe(client)
        return client

    async def _subscribe(self, client: Client) -> None:
        """(Re)subscribe the pull inbox; dropping the old one makes the server forget pulls still waiting."""
        if self._sub is not None:
            await self._sub.unsubscribe()
        self._inbox = client.new_inbox()
        self._sub = await client.subscribe(
            f"{self._inbox}.*",
            cb=self._on_message,
            pending_msgs_limit=2 * self.batch_size + 1000,
            pending_bytes_limit=2 * MAX_PULL_BYTES,
        )

    def _jetstream(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("NatsEventSource is not connected")
        return self._js

    async def _prepare(self, names: EventStream, resume: int) -> int:
        """Ensure the stream and a consumer delivering from `resume`; return the stream's last sequence."""
        js = self._jetstream()
        last_seq = await ensure_stream(js, names.domain)
        if resume > last_seq + 1:
            raise StreamResetError(
                f"{names.source}: the table consumed up to sequence {resume - 1} but stream {names.stream} "
                f"ends at {last_seq}; it was recreated or the table belongs to another server ({self.url})"
            )
        start = max(resume, 1)
        want = ConsumerConfig(
            durable_name=names.durable,
            filter_subject=names.subject,
            ack_policy=AckPolicy.ALL,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_wait=self.ack_wait_s,
            max_ack_pending=self.max_ack_pending,
            max_deliver=-1,
            replay_policy=ReplayPolicy.INSTANT,
        )
        try:
            info: ConsumerInfo | None = await js.consumer_info(names.stream, names.durable)
        except nats.js.errors.NotFoundError:
            info = None
        if info is not None:
            if _agrees(info, want, start):
                return last_seq
            _log.info("%s: consumer %s reset to sequence %d (from the ledger)", names.source, names.durable, start)
            await js.delete_consumer(names.stream, names.durable)
        await js.add_consumer(names.stream, want)
        return last_seq

    async def _fetch(self, names: EventStream, floor: int) -> _Pull:
        client = self._client
        assert client is not None
        pull = _Pull(f"{self._inbox}.{next(self._ids)}", (names.stream, names.durable), self.batch_size)
        self._pull = pull
        request = {"batch": self.batch_size, "no_wait": True, "max_bytes": MAX_PULL_BYTES}
        await client.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{names.stream}.{names.durable}", json.dumps(request).encode(), pull.reply
        )
        received = -1
        while not pull.done.is_set() and len(pull.seqs) != received:  # stop after a silent fetch_timeout_s
            received = len(pull.seqs)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pull.done.wait(), self.fetch_timeout_s)
        self._pull = None
        if not pull.done.is_set():
            if not pull.seqs:
                raise NatsUnavailableError(
                    f"NATS at {self.url} did not answer a pull of {names.stream}/{names.durable} "
                    f"within {self.fetch_timeout_s:g} s"
                )
            _log.warning("%s: pull stalled after %d messages; ending this run", names.source, len(pull.seqs))
            pull.dropped = True  # e.g. max_ack_pending reached: the server keeps the pull waiting
        if pull.status and not pull.status.startswith(_PULL_ENDS):
            _log.warning("%s: pull of %s ended with %s; ending this run", names.source, names.durable, pull.status)
            pull.dropped = True  # e.g. 409 Exceeded MaxAckPending, or the consumer deleted under us
        if pull.dropped:  # no abandoned pull may deliver into a later one, which would leave a gap
            await self._subscribe(client)
        committed = [i for i, seq in enumerate(pull.seqs) if seq < floor]
        if committed:  # committed by an earlier run whose ack was lost: ack them, never yield them
            await self._ack(pull.acks[committed[-1]])
        return pull

    async def _ack(self, reply: str) -> None:
        client = self._client
        assert client is not None
        await client.request(reply, b"+ACK", timeout=_API_TIMEOUT_S)

    async def _on_message(self, msg: Msg) -> None:
        pull = self._pull
        status = msg.headers.get("Status") if msg.headers else None
        if pull is None or (status and msg.subject != pull.reply):
            return  # a late answer to an abandoned pull: the next run resets the consumer
        if status:
            if status != "100":  # 100 is a heartbeat; anything else ends the pull
                pull.status = f"{status} {(msg.headers or {}).get('Description', '')}".strip()
                pull.done.set()
            return
        stream, consumer, seq, pending = _parse_ack_subject(msg.reply)
        if (stream, consumer) != pull.consumer:
            return  # a late delivery to another consumer's abandoned pull: that consumer will be reset
        pull.seqs.append(seq)
        pull.payloads.append(msg.data)
        pull.acks.append(msg.reply)
        pull.pending = pending
        if len(pull.seqs) >= pull.want:
            pull.done.set()

    async def _on_error(self, exc: Exception) -> None:
        if isinstance(exc, nats.errors.SlowConsumerError) and self._pull is not None:
            self._pull.dropped = True  # messages were lost client-side: stop before the gap is yielded

    async def _backlog(self, names: EventStream) -> int:
        js = self._jetstream()
        try:
            info = await js.consumer_info(names.stream, names.durable)
        except nats.js.errors.NotFoundError:
            try:
                stream = await js.stream_info(names.stream, subjects_filter=names.subject)
            except nats.js.errors.NotFoundError:
                return 0
            return (stream.state.subjects or {}).get(names.subject, 0)
        return (info.num_pending or 0) + (info.num_ack_pending or 0)


def _agrees(info: ConsumerInfo, want: ConsumerConfig, start: int) -> bool:
    """The existing consumer delivers next exactly what the ledger expects, with the wanted settings."""
    have = info.config
    delivered = info.delivered.stream_seq if info.delivered else 0
    return (
        not info.num_ack_pending
        and delivered + 1 == start
        and have.filter_subject == want.filter_subject
        and have.ack_policy == want.ack_policy
        and have.max_ack_pending == want.max_ack_pending
        and abs((have.ack_wait or 0) - (want.ack_wait or 0)) < 0.001
    )


def _parse_ack_subject(reply: str | None) -> tuple[str, str, int, int]:
    """Stream, consumer, stream sequence and pending count from a JetStream ack subject (v1 and v2)."""
    tokens = (reply or "").split(".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
        return tokens[2], tokens[3], int(tokens[5]), int(tokens[8])
    if len(tokens) >= 11:  # $JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
        return tokens[4], tokens[5], int(tokens[7]), int(tokens[10])
    raise ValueError(f"not a JetStream ack subject: {reply!r}")
