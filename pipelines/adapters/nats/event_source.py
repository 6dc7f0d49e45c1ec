"""NatsEventSource: the EventSource of NATS JetStream, one durable pull consumer per bronze table.

Exactly-once design: the table's ledger is the truth, the consumer is only a cursor.

- `batches()` first compares the durable consumer `bronze_<domain>_<event>` with the ledger. It is
  reused when nothing is awaiting an ack and its last delivered sequence is the ledger's position minus
  one. Otherwise (a previous process died holding deliveries, a commit happened but its ack did not,
  the table was reset) the consumer is deleted and recreated to deliver from the ledger's position
  (`DeliverPolicy.BY_START_SEQUENCE`). A re-run after `kill -9` therefore gets the unacknowledged
  messages at once instead of after the ack wait, and never gets what the table already holds.
- Messages are pulled with `no_wait` requests, ahead of the reader (`Puller`: one pull in flight and
  up to `ahead` received while the caller decodes and commits), so a run ends as soon as the consumer
  has nothing pending, or once it passed the stream's last sequence at the start (fast producers cannot
  keep a run going forever). A delivered message below the ledger's position (committed, ack lost) is
  acked and not yielded; one yielded earlier in this run (redelivered after the ack wait) is skipped.
  Pulls never ask for more than `max_ack_pending` allows: a caller holding that many unacknowledged
  messages ends the run. What was pulled ahead and not read when a run ends stays unacknowledged,
  and the next run resets the consumer to the ledger.
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

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

import nats.errors
import nats.js.errors
import numpy as np
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy, ReplayPolicy

from pipelines.adapters.nats.compat import SinkClient
from pipelines.adapters.nats.errors import StreamResetError
from pipelines.adapters.nats.jetstream import CONNECT_TIMEOUT_S, EventStream, LoopThread, connect, ensure_stream
from pipelines.adapters.nats.pulls import Pull, Puller
from pipelines.core.positions import Ledger, PositionRange
from pipelines.ports.event_source import RawBatch

_API_TIMEOUT_S = 5.0
_log = logging.getLogger(__name__)


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
        batch_size: most messages per batch (one pull).
        fetch_timeout_s: the longest a pull may go without receiving anything from the server.
        ack_wait_s: the consumer's ack wait; keep it longer than decoding and committing a batch.
        max_ack_pending: how many delivered messages may await their ack (the ingestor acks only
            after its commit, up to `max_rows_per_commit` rows, while the next pulls arrive); at
            least `batch_size`.
        connect_timeout_s: how long connecting may take before `NatsUnavailableError`.
        ahead: most pulls received ahead of the reader.
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
        ahead: int = 2,
    ) -> None:
        if batch_size < 1 or fetch_timeout_s <= 0 or ack_wait_s <= 0 or ahead < 1:
            raise ValueError("batch_size, fetch_timeout_s, ack_wait_s and ahead must be positive")
        self.url = url
        self.batch_size = batch_size
        self.fetch_timeout_s = fetch_timeout_s
        self.ack_wait_s = ack_wait_s
        self.max_ack_pending = max(max_ack_pending, batch_size)
        self.connect_timeout_s = connect_timeout_s
        self.ahead = ahead
        self._loop: LoopThread | None = None
        self._client: SinkClient | None = None
        self._js: JetStreamContext | None = None
        self._puller: Puller | None = None

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
        loop = self._connected()
        last_seq = loop.run(self._prepare(names, ledger.consumed_until(names.source)))
        puller = self._puller = loop.run(self._start(names, last_seq))
        try:
            seen_end = 0
            while (pull := loop.run(puller.next())) is not None:
                batch = self._fresh(names, pull, ledger.consumed_until(names.source), seen_end)
                if batch is not None:
                    seen_end = batch.range.end
                    yield batch
        finally:
            self._puller = None
            if self._loop is loop:  # not closed meanwhile
                loop.run(puller.stop())

    def _fresh(self, names: EventStream, pull: Pull, floor: int, seen_end: int) -> RawBatch | None:
        """The pull's messages not committed (those are acked here) and not yielded earlier in this run."""
        seqs = pull.sequences()
        committed = np.flatnonzero(seqs < floor)
        if committed.size:  # committed by an earlier run whose ack was lost: ack them, never yield them
            last = int(committed[-1])
            self._connected().run(self._ack(pull.ack(last), int(seqs[last])))
        nxt = max(floor, seen_end)
        fresh = np.flatnonzero(seqs > np.maximum.accumulate(np.concatenate(([nxt - 1], seqs[:-1]))))
        if not fresh.size:
            return None
        offsets = seqs[fresh].tolist()
        whole = fresh.size == seqs.size
        return RawBatch(
            source=names.source,
            range=PositionRange(names.source, nxt or offsets[0], offsets[-1] + 1),
            payloads=pull.payloads if whole else [pull.payloads[i] for i in fresh],
            offsets=offsets,
            ack_token=_AckToken(id(self), pull.ack(int(fresh[-1])), offsets[-1]),
        )

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
            self._connected().run(self._ack(token.reply, token.last_seq))
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
        self._loop, self._client, self._js, self._puller = None, None, None, None
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

    async def _open(self) -> SinkClient:
        client = await connect(self.url, self.connect_timeout_s, client_class=SinkClient)
        assert isinstance(client, SinkClient)
        self._js = client.jetstream(timeout=_API_TIMEOUT_S)
        return client

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

    async def _start(self, names: EventStream, last_seq: int) -> Puller:
        assert self._client is not None
        puller = Puller(
            self._client,
            names,
            batch_size=self.batch_size,
            ahead=self.ahead,
            fetch_timeout_s=self.fetch_timeout_s,
            max_ack_pending=self.max_ack_pending,
            last_seq=last_seq,
        )
        await puller.start()
        return puller

    async def _ack(self, reply: str, seq: int) -> None:
        client = self._client
        assert client is not None
        await client.request(reply, b"+ACK", timeout=_API_TIMEOUT_S)
        if self._puller is not None:
            await self._puller.acked(seq)

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
