"""SailServer: a Sail Spark Connect server meshlake starts on 127.0.0.1 (a child process) and stops.

Sail reads its catalogs when it starts (`SAIL_CATALOG__LIST`), so a server is configured with the
Iceberg REST catalog and the bearer token of one principal: the domain whose products it builds.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from pipelines.adapters.server_process import free_port, stop_group
from pipelines.core.extras import require

CATALOG_NAME = "lake"
"""The name Spark SQL gives meshlake's Iceberg REST catalog: `lake.<domain>.<table>`."""


class SailStartError(RuntimeError):
    """Sail did not start listening; the message holds the end of its log."""


def catalog_environment(rest_uri: str | None, token: str | None) -> dict[str, str]:
    """The variables that give a Sail server meshlake's Iceberg REST catalog as `lake`, with a bearer token."""
    if rest_uri is None:
        return {}
    entry = f'type="iceberg-rest", name="{CATALOG_NAME}", uri="{rest_uri}"'
    if token:
        entry += f', bearer_access_token="{token}"'
    return {"SAIL_CATALOG__LIST": f"[{{{entry}}}]"}


class SailServer:
    """A `pysail` Spark Connect server process listening on `host:port`.

    Entering starts it and waits until it accepts connections; leaving stops it (SIGTERM, then SIGKILL).
    Its log is `<log_dir>/sail-<port>.log`.

    Args:
        log_dir: where its log file goes.
        environment: the server's environment (`Settings.engine_environment()` and its catalogs, see
            `catalog_environment`); None: this process's.
        port: the port; a free one when None.
    """

    def __init__(
        self,
        log_dir: Path,
        environment: Mapping[str, str] | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        start_timeout_s: float = 60.0,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.environment = dict(environment) if environment is not None else None
        self.host = host
        self.port = port or 0
        self.start_timeout_s = start_timeout_s
        self.started_in_s: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """`sc://host:port`, the Spark Connect URL of the server."""
        return f"sc://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def ended(self) -> str | None:
        """How the started server's process ended (`killed by signal 9`, `exit code 1`); None while it runs."""
        code = self._process.poll() if self._process is not None else None
        if code is None:
            return None
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"sail-{self.port}.log"

    def start(self) -> SailServer:
        """Start the server and wait until it listens.

        Raises:
            MissingExtraError: pysail is not installed (the `sail` extra).
            SailStartError: it exited or did not listen within `start_timeout_s`.
        """
        require("pysail")
        self.port = self.port or free_port(self.host)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        command = [sys.executable, "-m", "pysail", "spark", "server", "--ip", self.host, "--port", str(self.port)]
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment,
                start_new_session=True,  # its own process group: a Ctrl-C of ours reaches it through stop() only
            )
        while not self._listening():
            if self._process.poll() is not None or time.monotonic() - began > self.start_timeout_s:
                self.stop()
                tail = self.log_file.read_text(errors="replace")[-2000:].strip()
                raise SailStartError(f"Sail did not start on {self.host}:{self.port}: {tail or 'no output'}")
            time.sleep(0.05)
        self.started_in_s = time.monotonic() - began
        return self

    def detach(self) -> int:
        """Leave the started server running after this object (`meshlake engine start`); returns its pid."""
        assert self._process is not None, "start() first"
        pid, self._process = self._process.pid, None
        return pid

    def _listening(self) -> bool:
        try:
            socket.create_connection((self.host, self.port), timeout=0.2).close()
        except OSError:
            return False
        return True

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server and whatever it started (its process group): SIGTERM, then SIGKILL after `timeout_s`."""
        process, self._process = self._process, None
        stop_group(process, timeout_s)

    def __enter__(self) -> SailServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
