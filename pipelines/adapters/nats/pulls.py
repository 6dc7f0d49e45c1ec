"""Puller: pulls of one JetStream pull consumer made ahead of their reader, so fetching overlaps the reader's work.

One pull is in flight at a time and up to `ahead` received ones wait for the reader; each pull asks
for no more than the consumer may still deliver (`max_ack_pending` less what was delivered and not
acknowledged), so a pull is never left waiting on the server. Each run subscribes its own inbox and
drops it at the end, so an abandoned pull can never deliver into a later run.

The inbox is a sink of the client (`compat.SinkClient`): its messages come straight from the
protocol parser, and the sink only keeps each delivery's ack subject and payload; stream sequences
are parsed from the ack subjects a pull at a time, by Arrow kernels, on the reader's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from nats.aio.subscription import Subscription

from pipelines.adapters.nats.compat import SinkClient
from pipelines.adapters.nats.errors import NatsUnavailableError
from pipelines.adapters.nats.jetstream import EventStream

MAX_PULL_BYTES = 64 * 1024 * 1024
_CANCEL_AGAIN_S = 0.5
_log = logging.getLogger(__name__)
_STATUS_AT = len(b"NATS/1.0 ")
_PULL_ENDS = ("404", "408", "409 Batch Completed")
"""Statuses that end a pull normally: nothing (more) pending, or the batch was filled (nats-server 2.10 and
later say so after the last message; 2.9 said nothing)."""


@dataclass
class Pull:
    """One pull request and what it delivered: each message's ack subject and payload."""

    reply: str
    want: int
    acks: list[bytes] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    status: str = ""
    dropped: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def sequences(self) -> npt.NDArray[np.int64]:
        """The stream sequence of each message, from its ack subject (v1 and v2 forms)."""
        if not self.acks:
            return np.zeros(0, np.int64)
        tokens = pc.split_pattern(pa.array(self.acks, pa.binary()), ".")
        at = _ACK_TOKENS.get(len(self.acks[0].split(b".")), (7, 10))[0]
        return np.asarray(pc.cast(pc.cast(pc.list_element(tokens, at), pa.string()), pa.int64()))

    def ack(self, i: int) -> str:
        """The ack subject of message `i`."""
        return self.acks[i].decode()

    def last(self) -> tuple[int, int]:
        """The stream sequence of the last message and how many the consumer still had to deliver after it."""
        tokens = self.acks[-1].split(b".")
        seq, pending = _ACK_TOKENS.get(len(tokens), (7, 10))
        return int(tokens[seq]), int(tokens[pending])


_ACK_TOKENS = {9: (5, 8)}
"""Token positions of (stream sequence, pending) by token count: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.
<cseq>.<ts>.<pending>`; the v2 form (11 or 12 tokens) adds a domain and an account hash after `$JS.ACK`."""


class Puller:
    """Pulls the consumer of `names` ahead of the reader, on the client's event loop (every method runs there).

    Args:
        client: the connected client.
        names: the stream and consumer.
        batch_size: most messages per pull.
        ahead: most received pulls waiting for the reader.
        fetch_timeout_s: the longest a pull may go without receiving anything.
        max_ack_pending: the consumer's limit of delivered, unacknowledged messages.
        last_seq: the stream's last sequence when the run started; pulling stops past it.
    """

    def __init__(
        self,
        client: SinkClient,
        names: EventStream,
        *,
        batch_size: int,
        ahead: int,
        fetch_timeout_s: float,
        max_ack_pending: int,
        last_seq: int,
    ) -> None:
        self._client, self._names = client, names
        self._batch_size, self._ahead, self._fetch_timeout_s = batch_size, ahead, fetch_timeout_s
        self._max_ack_pending, self._last_seq = max_ack_pending, last_seq
        self._inbox = client.new_inbox()
        self._ids = 0
        self._ready: deque[Pull] = deque()
        self._unacked: deque[tuple[int, int]] = deque()  # (last sequence, messages) of each delivered pull
        self._pull: Pull | None = None
        self._finished = False
        self._error: Exception | None = None
        self._changed = asyncio.Condition()
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe this run's inbox and start pulling."""
        self._sub = await self._client.subscribe_sink(f"{self._inbox}.*", self._on_message)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def next(self) -> Pull | None:
        """The next received pull; None once pulling ended (drained, past the start's end, or stalled).

        Raises:
            NatsUnavailableError: the server did not answer a pull.
        """
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._ready) or self._finished or self._starved())
            if self._ready:
                pull = self._ready.popleft()
                self._changed.notify_all()
                return pull
        if self._error is not None:
            raise self._error
        if not self._finished:
            _log.warning(
                "%s: %d delivered messages await their ack (max_ack_pending); ending this run",
                self._names.source,
                self._max_ack_pending - self._credit(),
            )
        return None

    async def acked(self, seq: int) -> None:
        """Everything up to stream sequence `seq` was acknowledged: its pulls no longer count against the limit."""
        async with self._changed:
            while self._unacked and self._unacked[0][0] <= seq:
                self._unacked.popleft()
            self._changed.notify_all()

    async def stop(self) -> None:
        """Stop pulling and drop the inbox (the server forgets pulls still waiting on it).

        The pulling task is cancelled until it ends: Python 3.11's `asyncio.wait_for` (which waits on each
        pull) can swallow a cancellation that arrives as its timeout fires, and the task would then pull on
        and wait for a reader that has left.
        """
        if self._task is not None:
            while not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=_CANCEL_AGAIN_S)
            with contextlib.suppress(asyncio.CancelledError):
                self._task.result()
        if self._sub is not None:
            with contextlib.suppress(Exception):  # best effort: a closed connection dropped it already
                await self._sub.unsubscribe()

    def _credit(self) -> int:
        return self._max_ack_pending - sum(n for _, n in self._unacked)

    def _starved(self) -> bool:
        """Nothing to read and no pull may be made until the reader acknowledges: it would wait for itself."""
        return not self._ready and self._pull is None and self._credit() <= 0

    async def _run(self) -> None:
        try:
            while True:
                async with self._changed:
                    await self._changed.wait_for(lambda: len(self._ready) < self._ahead and self._credit() > 0)
                    want = min(self._batch_size, self._credit())
                    self._pull = Pull(f"{self._inbox}.{self._ids}", want)
                    self._ids += 1
                pull = await self._fetch(self._pull)
                last, pending = pull.last() if pull.acks else (0, 0)
                end = pull.dropped or not pull.acks or pending == 0 or last >= self._last_seq
                async with self._changed:
                    self._pull = None
                    if pull.acks:
                        self._unacked.append((last, len(pull.acks)))
                        self._ready.append(pull)
                    self._finished = end
                    self._changed.notify_all()
                if end:
                    return
        except Exception as exc:
            async with self._changed:
                self._error, self._finished, self._pull = exc, True, None
                self._changed.notify_all()

    async def _fetch(self, pull: Pull) -> Pull:
        names = self._names
        request = {"batch": pull.want, "no_wait": True, "max_bytes": MAX_PULL_BYTES}
        await self._client.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{names.stream}.{names.durable}", json.dumps(request).encode(), pull.reply
        )
        received = -1
        while not pull.done.is_set() and len(pull.acks) != received:  # stop after a silent fetch_timeout_s
            received = len(pull.acks)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pull.done.wait(), self._fetch_timeout_s)
        if not pull.done.is_set():
            if not pull.acks:
                raise NatsUnavailableError(
                    f"NATS did not answer a pull of {names.stream}/{names.durable} within {self._fetch_timeout_s:g} s"
                )
            _log.warning("%s: pull stalled after %d messages; ending this run", names.source, len(pull.acks))
            pull.dropped = True
        if pull.status and not pull.status.startswith(_PULL_ENDS):
            _log.warning("%s: pull of %s ended with %s; ending this run", names.source, names.durable, pull.status)
            pull.dropped = True  # e.g. 409 Exceeded MaxAckPending, or the consumer deleted under us
        return pull

    def _on_message(self, subject: bytes, reply: bytes, payload: bytes, headers: bytes | None) -> None:
        pull = self._pull
        if pull is None:
            return  # a late answer to a pull given up on (the run is ending)
        if reply:  # a delivery: the inbox is this run's and one pull at a time is made
            pull.acks.append(reply)
            pull.payloads.append(payload)
            if len(pull.acks) >= pull.want:
                pull.done.set()
            return
        status = _status(headers)
        if status and not status.startswith("100") and subject == pull.reply.encode():  # 100: a heartbeat
            pull.status = status  # anything else ends the pull
            pull.done.set()


def _status(headers: bytes | None) -> str:
    """`409 Batch Completed` of a header block `NATS/1.0 409 Batch Completed\\r\\n...`; "" without a status."""
    if not headers or headers[_STATUS_AT - 1 : _STATUS_AT] != b" ":
        return ""
    return headers[_STATUS_AT:].split(b"\r\n", 1)[0].decode(errors="replace").strip()
