"""NATS JetStream adapter: events on `events.<domain>.<event>`, one stream per domain, exactly-once reading."""

from pipelines.adapters.nats.event_source import NatsEventSource, StreamResetError
from pipelines.adapters.nats.jetstream import EventStream, NatsUnavailableError
from pipelines.adapters.nats.publisher import PublishError, publish_events

__all__ = [
    "EventStream",
    "NatsEventSource",
    "NatsUnavailableError",
    "PublishError",
    "StreamResetError",
    "publish_events",
]
