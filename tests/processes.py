"""Waiting for the processes a test started, never for longer than it says."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from typing import Any

BARRIER_TIMEOUT_S = 120
"""The longest a racing process waits at its start barrier for the others (one that died never arrives)."""


def finished(processes: Sequence[subprocess.Popen[bytes]], timeout_s: float) -> list[int]:
    """The exit codes of `processes`, all waited for within one `timeout_s`.

    Raises:
        AssertionError: some still ran after `timeout_s`; they are killed (SIGKILL) and reaped first.
    """
    deadline = time.monotonic() + timeout_s
    running = []
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            running.append(process)
    for process in running:
        process.kill()
        process.wait(30)
    assert not running, f"{len(running)} of {len(processes)} processes still ran after {timeout_s:g} s (killed)"
    return [process.returncode for process in processes]


def stopped(process: subprocess.Popen[Any], timeout_s: float = 30) -> tuple[Any, Any]:
    """Stop `process`: SIGTERM, SIGKILL if it still runs after `timeout_s`. Returns what it wrote to its pipes."""
    process.terminate()
    try:
        return process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate(timeout=timeout_s)


def joined(processes: Sequence[BaseProcess], timeout_s: float) -> list[int | None]:
    """The exit codes of multiprocessing `processes`, all joined within one `timeout_s` (one left running would
    also stall this process's exit: multiprocessing joins its children then, without a timeout).

    Raises:
        AssertionError: some still ran after `timeout_s`; they are killed (SIGKILL) and reaped first.
    """
    deadline = time.monotonic() + timeout_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    running = [process for process in processes if process.is_alive()]
    for process in running:
        process.kill()
        process.join(30)
    assert not running, f"{len(running)} of {len(processes)} processes still ran after {timeout_s:g} s (killed)"
    return [process.exitcode for process in processes]
