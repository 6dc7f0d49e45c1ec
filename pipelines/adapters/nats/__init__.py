"""NATS JetStream adapter: events on `events.<domain>.<event>`, one stream per domain, exactly-once reading.

nats-py comes with the `nats` extra. The errors and `server` (which runs a nats-server executable) import
without it; the source, stream and publisher are loaded on first use, and without nats-py that use
raises `MissingExtraError` naming the extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pipelines.adapters.nats.errors import NatsUnavailableError, PublishError, StreamResetError
from pipelines.core.extras import require

if TYPE_CHECKING:
    from pipelines.adapters.nats.event_source import NatsEventSource
    from pipelines.adapters.nats.jetstream import EventStream
    from pipelines.adapters.nats.publisher import publish_events

_NEEDS_NATS_PY = {
    "EventStream": "pipelines.adapters.nats.jetstream",
    "NatsEventSource": "pipelines.adapters.nats.event_source",
    "publish_events": "pipelines.adapters.nats.publisher",
}

__all__ = [
    "EventStream",
    "NatsEventSource",
    "NatsUnavailableError",
    "PublishError",
    "StreamResetError",
    "publish_events",
]


def __getattr__(name: str) -> Any:
    module = _NEEDS_NATS_PY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require("nats")
    return getattr(importlib.import_module(module), name)
