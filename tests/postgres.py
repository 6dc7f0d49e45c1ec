"""A real PostgreSQL for the tests: `MESHLAKE_TEST_POSTGRES_URL` (CI's .ci/postgres) or one started here.

Started with initdb/pg_ctl on 127.0.0.1, once per test session (each xdist worker has its own), and
stopped and deleted at the end. As root the server runs as the `postgres` user, so its data lives in a
directory of its own under the system temp dir: pytest re-locks its tmp root (0700) whenever another
session starts, which would cut a server running as another user off from its files. Never skips:
without the server binaries it fails and says what to install.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))[-1:]), None)
    if not found:
        pytest.fail(
            f"PostgreSQL's {name} is missing: apt-get install postgresql (listed in .ci/apt-packages.txt), "
            "or set MESHLAKE_TEST_POSTGRES_URL to a server where the tests may create databases",
            pytrace=False,
        )
    return str(found)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A psycopg2 URL to database `postgres` on a server where tests may create databases."""
    if url := os.environ.get("MESHLAKE_TEST_POSTGRES_URL"):
        yield url
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    data = Path(tempfile.mkdtemp(prefix="meshlake-test-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        owner = pwd.getpwnam("postgres")
        os.chown(data, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    try:
        subprocess.run([*prefix, initdb, "-D", str(data / "db"), "-U", "meshlake", "--auth=trust", "--no-sync"],
                       check=True, capture_output=True)  # fmt: skip
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' -c fsync=off -c max_connections=200"
        )
        subprocess.run([*prefix, pg_ctl, "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-o", options, "start"],
                       check=True, capture_output=True)  # fmt: skip
        try:
            yield f"postgresql+psycopg2://meshlake@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*prefix, pg_ctl, "-D", str(data / "db"), "-m", "fast", "-w", "stop"], capture_output=True)
    finally:
        shutil.rmtree(data, ignore_errors=True)
