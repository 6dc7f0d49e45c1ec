"""Integration fixtures: a real nats-server with JetStream on a free 127.0.0.1 port, per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.adapters.nats.server import NatsServer, NatsServerNotFoundError
from pipelines.settings import Settings


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A running nats-server (the setting `nats_server`, else the wheel's) storing JetStream under `tmp_path`;
    fails (never skips) when not installed."""
    try:
        server = NatsServer(tmp_path / "nats", executable=Settings.load().nats_server)
        server.start()
    except NatsServerNotFoundError as exc:
        pytest.fail(f"{exc} — these tests need a real nats-server", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    """`nats://127.0.0.1:<port>` of a fresh server."""
    return nats_server.url
