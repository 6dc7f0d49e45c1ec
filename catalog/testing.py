"""Run a real catalog server on a free loopback port inside the current process (for tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from catalog.api import create_app
from catalog.service import CatalogService


@contextmanager
def serve_in_thread(target: CatalogService | FastAPI, timeout: float = 10.0) -> Iterator[str]:
    """Serve a catalog (or a catalog app) with uvicorn on 127.0.0.1 and a free port; yields the base URL.

    The app serves whatever service `app.state.service` holds, so a long-lived server can be pointed at
    a fresh catalog per test.

    Raises:
        RuntimeError: the server did not start within `timeout` seconds.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = target if isinstance(target, FastAPI) else create_app(target)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("catalog server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
