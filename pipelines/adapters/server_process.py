"""What the local servers meshlake starts (nats-server, SeaweedFS) share: finding the executable, a free port,
starting it in its own process group with its output in a log, and stopping that group."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
from collections.abc import Sequence
from pathlib import Path

SEARCH_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin")
"""Where a system package puts a server, looked in after PATH (sbin is often not on a user's PATH)."""


def find_executable(
    name: str, configured: str | None, setting: str, install: str, error: type[FileNotFoundError]
) -> str:
    """The executable `name`: `configured` (the setting's value), else the one a wheel installed beside this
    Python (its environment's scripts directory, which need not be on PATH), else on PATH, else in
    `SEARCH_DIRS`.

    Args:
        name: the executable's file name.
        configured: the setting's value, None when unset.
        setting: the setting's name and variable, for the messages (`weed, MESHLAKE_WEED`).
        install: how to install it, for the message when it is nowhere.
        error: the server's error, raised when `configured` is not an executable file or none was found.
    """
    if configured:
        if not os.access(configured, os.X_OK):
            raise error(f"{configured} is not an executable file (the setting {setting})")
        return configured
    found = shutil.which(name, path=sysconfig.get_path("scripts")) or shutil.which(name)
    found = found or shutil.which(name, path=os.pathsep.join(SEARCH_DIRS))
    if found is None:
        raise error(f"{name} not found: {install} or set the setting {setting} to its path")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start_logged(command: Sequence[str], log_path: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """`command` started in its own session (process group: a terminal's Ctrl-C reaches its owner only, who
    stops the group), its output and errors appended to `log_path`."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )


def stop_group(process: subprocess.Popen[bytes] | None, timeout_s: float = 10.0) -> None:
    """Stop a server started in its own session (`start_logged`) and whatever it started: SIGTERM to its process
    group (a graceful stop lets it flush its store), SIGKILL to the group after `timeout_s`, then SIGKILL to what
    is left of the group (a child of the server would otherwise outlive it, holding its ports or pipes). Waits at
    most about twice `timeout_s`. None or exited before: nothing (its group id may belong to another by now)."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):  # unkillable (uninterruptible IO): wait no longer
            process.wait(timeout_s)
    with contextlib.suppress(ProcessLookupError):  # just reaped: the group id is still this server's
        os.killpg(process.pid, signal.SIGKILL)
