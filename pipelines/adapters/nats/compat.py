"""The one place meshlake relies on nats-py's private API (see STYLE.md, "Fencing what is not yours").

nats-py hands every received message to a subscription as a `Msg` through an asyncio queue and a
callback task, after parsing its header block in Python: ~10 us a message on the event loop's
thread, which a JetStream ingest shares (through the GIL) with decoding and writing, so that thread
was the ingest's limit (a profile of a 200,000-message ingest: 80 % of its samples). A *sink* takes
a subscription's messages straight from the protocol parser instead: a plain function called with
the raw subject, reply, payload and header block, in wire order, on the loop's thread, with no
`Msg`, queue, task or header parsing. Its messages never queue in the client, so nats-py's pending
limits and slow-consumer errors do not apply: the sink's owner bounds what it keeps.

Private API used (nats-py 2.x; `tests/integration/test_nats_compat.py` pins the behaviour):
- `Client._ps`, the protocol parser, replaced by `_SinkParser`: a subclass of nats-py's `Parser`
  whose `parse` first takes the messages of sink subscriptions at the head of its `buf` (state
  `AWAITING_CONTROL_LINE`) with one regex match each, then leaves the rest (any other operation or
  subscription, or a control line it does not recognise) to nats-py's own parsing.
- `Client._process_msg`, overridden so that a sink's message that nats-py parsed itself also goes to
  the sink, in order; `Client._remove_sub`, overridden to forget the sink with its subscription.
- `Subscription._id`, the subscription's sid on the wire.
nats-py has no public API for a raw, synchronous message handler; with one, this module goes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.protocol.parser import AWAITING_CONTROL_LINE, CRLF_SIZE, Parser

Sink = Callable[[bytes, bytes, bytes, bytes | None], None]
"""Called with a message's subject, reply (b"" without), payload and raw header block (None without one);
it must not block, and what it raises is reported to the client's error callback, not to the server."""

_HMSG = re.compile(rb"HMSG ([^ \r\n]+) (\d+) (?:([^ \r\n]+) )?(\d+) (\d+)\r\n")
"""`HMSG <subject> <sid> [reply] <header bytes> <total bytes>`, as nats-server writes it (single spaces)."""
_MSG = re.compile(rb"MSG ([^ \r\n]+) (\d+) (?:([^ \r\n]+) )?(\d+)\r\n")
_H, _M = ord("H"), ord("M")


class SinkClient(Client):
    """nats-py's client with `subscribe_sink`: subscriptions whose messages skip nats-py's `Msg`, queue and task."""

    def __init__(self) -> None:
        super().__init__()
        self._sinks: dict[int, Sink] = {}
        self._ps = _SinkParser(self)  # private: nats-py's parser, read by `Client._read_loop`

    async def subscribe_sink(self, subject: str, sink: Sink) -> Subscription:
        """Subscribe `subject`; its messages go to `sink`. Unsubscribe the returned subscription to stop.

        Messages reaching the subject before this returns are dropped: subscribe a fresh inbox, then
        ask for what it should receive.
        """
        sub = await self.subscribe(subject)
        self._sinks[sub._id] = sink  # private: the sid, which the parser reads off the wire
        return sub

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        sink = self._sinks.get(sid)
        if sink is None:
            await super()._process_msg(sid, subject, reply, data, headers)  # type: ignore[arg-type]  # None: none
            return
        self.stats["in_msgs"] += 1
        self.stats["in_bytes"] += len(data)
        try:
            sink(subject, reply, data, headers)
        except Exception as exc:
            await self._error_cb(exc)

    def _remove_sub(self, sid: int, max_msgs: int = 0) -> None:
        self._sinks.pop(sid, None)
        super()._remove_sub(sid, max_msgs)


class _SinkParser(Parser):
    """nats-py's parser, taking the messages of sink subscriptions at the head of its buffer first."""

    nc: SinkClient

    async def parse(self, data: bytes = b"") -> None:
        self.buf.extend(data)
        if self.state == AWAITING_CONTROL_LINE and self.nc._sinks:
            try:
                whole = self._to_sinks()
            except Exception as exc:  # a sink failed: its message is consumed, the connection goes on
                await self.nc._error_cb(exc)
                whole = True
            if not whole:
                return  # a sink's message is still arriving: left in `buf` for the next read
        await super().parse()

    def _to_sinks(self) -> bool:
        """Hand the complete sink messages at the head of `buf` to their sinks and drop them from `buf`.

        Returns False when it stopped at a sink's message whose payload has not fully arrived (nats-py's
        parser would then take the rest of the buffer); True when it stopped at anything else.
        """
        buf, sinks, stats = self.buf, self.nc._sinks, self.nc.stats
        pos, size, count, received = 0, len(buf), 0, 0
        whole = True
        try:
            while pos < size:
                first = buf[pos]
                match = _HMSG.match(buf, pos) if first == _H else _MSG.match(buf, pos) if first == _M else None
                if match is None:
                    break  # another operation, or a control line still arriving: nats-py's parser knows both
                sink = sinks.get(int(match[2]))
                if sink is None:
                    break
                header, total = (int(match[4]), int(match[5])) if first == _H else (0, int(match[4]))
                start = match.end()
                end = start + total
                if end + CRLF_SIZE > size:
                    whole = False
                    break
                pos = end + CRLF_SIZE  # consumed even if the sink fails
                count += 1
                received += total - header
                head = bytes(buf[start : start + header]) if header else None
                sink(match[1], match[3] or b"", bytes(buf[start + header : end]), head)
        finally:
            del buf[:pos]
            stats["in_msgs"] += count
            stats["in_bytes"] += received
        return whole
