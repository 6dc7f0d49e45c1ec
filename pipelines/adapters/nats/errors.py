"""Errors of the NATS adapter, importable without nats-py (the CLI names them among user errors)."""

from __future__ import annotations


class NatsUnavailableError(ConnectionError):
    """The NATS server at a URL cannot be reached (or refused the connection)."""


class PublishError(RuntimeError):
    """JetStream refused some events or did not acknowledge them in time.

    The acknowledged ones are stored; publishing the same events again is safe within the stream's
    duplicate window (their `Nats-Msg-Id` makes JetStream drop what it already holds).
    """


class StreamResetError(RuntimeError):
    """The ledger names positions the stream never had: it was deleted and recreated."""
