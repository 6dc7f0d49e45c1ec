"""JetStream plumbing shared by the NATS source and publisher: names, connection, stream, event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from pipelines.adapters.nats.errors import NatsUnavailableError
from pipelines.core.names import check_identifier

DUPLICATE_WINDOW_S = 120.0
"""How long JetStream remembers a `Nats-Msg-Id` to drop a duplicate publish (at least 2 minutes)."""

CONNECT_TIMEOUT_S = 3.0
_FIRST_ATTEMPTS, _FIRST_RETRY_WAIT_S = 3, 0.2  # a refused first connection fails in well under a second
_ATTEMPTS, _RETRY_WAIT_S = 60, 2.0

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


def stream_of(domain: str) -> str:
    """The JetStream stream of a domain's events: `EVENTS_<DOMAIN>`."""
    return f"EVENTS_{check_identifier(domain, 'domain').upper()}"


@dataclass(frozen=True)
class EventStream:
    """Where the events of `<domain>.<event>` live in JetStream, and the names derived from it."""

    domain: str
    event: str

    def __post_init__(self) -> None:
        check_identifier(self.domain, "domain")
        check_identifier(self.event, "event")

    @property
    def stream(self) -> str:
        """The domain's stream, `EVENTS_<DOMAIN>`."""
        return stream_of(self.domain)

    @property
    def subject(self) -> str:
        """`events.<domain>.<event>`."""
        return f"events.{self.domain}.{self.event}"

    @property
    def durable(self) -> str:
        """The durable pull consumer of the bronze table, `bronze_<domain>_<event>`."""
        return f"bronze_{self.domain}_{self.event}"

    @property
    def source(self) -> str:
        """The ledger's name of this source, `nats:EVENTS_<DOMAIN>/<event>`."""
        return f"nats:{self.stream}/{self.event}"


async def connect(url: str, timeout_s: float = CONNECT_TIMEOUT_S, client_class: type[Client] = Client) -> Client:
    """Connect to NATS, failing within `timeout_s` instead of nats-py's minutes of retries.

    Args:
        url: the server.
        timeout_s: the deadline of the first connection (reconnections later follow nats-py's defaults).
        client_class: nats-py's `Client` or a subclass (the source's `compat.SinkClient`).

    Raises:
        NatsUnavailableError: the server did not accept a connection in time; the message names `url`.
    """
    last_error: list[BaseException] = []

    async def report(exc: Exception) -> None:
        last_error[:] = [exc]
        _log.log(logging.WARNING if client.is_connected else logging.DEBUG, "nats %s: %r", url, exc)

    client = client_class()
    try:
        await asyncio.wait_for(
            client.connect(
                url,
                error_cb=report,
                connect_timeout=max(1, int(timeout_s)),
                reconnect_time_wait=_FIRST_RETRY_WAIT_S,  # type: ignore[arg-type]  # nats-py accepts float
                max_reconnect_attempts=_FIRST_ATTEMPTS,
                name="meshlake",
            ),
            timeout_s,
        )
    except Exception as exc:
        await _close_quietly(client)
        cause = last_error[0] if last_error else exc
        reason = f"no answer within {timeout_s:g} s" if isinstance(cause, TimeoutError) else str(cause) or repr(cause)
        raise NatsUnavailableError(f"cannot connect to NATS at {url}: {reason}") from exc
    # Once connected, ride out server restarts like nats-py's defaults do.
    client.options["reconnect_time_wait"] = _RETRY_WAIT_S
    client.options["max_reconnect_attempts"] = _ATTEMPTS
    return client


async def _close_quietly(client: Client) -> None:
    with contextlib.suppress(Exception):  # best effort on a connection that never opened
        await client.close()


async def ensure_stream(js: JetStreamContext, domain: str) -> int:
    """Create the domain's stream `EVENTS_<DOMAIN>` on `events.<domain>.>` when missing.

    Idempotent and safe against a concurrent creator. An existing stream whose duplicate window is
    shorter than `DUPLICATE_WINDOW_S` is widened. Retention is by limits (messages stay after acks),
    so a bronze table can always be re-read from the sequence its ledger names.

    Returns:
        The stream's last sequence number (0 when empty).
    """
    name = stream_of(domain)
    config = StreamConfig(
        name=name,
        subjects=[f"events.{domain}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_S,
    )
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        try:
            info = await js.add_stream(config)
        except nats.js.errors.BadRequestError:  # created concurrently with another configuration
            info = await js.stream_info(name)
    if (info.config.duplicate_window or 0) < DUPLICATE_WINDOW_S:
        info.config.duplicate_window = DUPLICATE_WINDOW_S
        info = await js.update_stream(info.config)
    return info.state.last_seq


class LoopThread:
    """A private asyncio event loop running in a daemon thread, for sync callers.

    The loop keeps running between calls, so the NATS client answers server pings while the caller
    spends minutes committing, and it works even when the caller's thread already runs a loop.
    """

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, _T], timeout_s: float | None = None) -> _T:
        """Run `coro` on the loop and wait for its result (its exception is re-raised here)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def close(self) -> None:
        """Cancel what is left on the loop, stop it and join the thread. Idempotent."""
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            self.run(_cancel_others(), 5.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)
        self._loop.close()


async def _cancel_others() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
