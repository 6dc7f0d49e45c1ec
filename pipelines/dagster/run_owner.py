"""The process behind a Dagster run started by meshlake, so that a run whose process died blocks no one.

Every table writer claims the concurrency pool of its table (`table:<domain>.<table>`). A run killed
with SIGKILL (or by the OOM killer) keeps its claimed slot and stays STARTED; Dagster's run monitoring
(a daemon) fails such runs only for runs it launched, and `meshlake materialize` runs in process,
without a daemon. So the runs meshlake starts carry their owner (`owner_tags`: host, pid and the
process's start time, which tells a reused pid apart); `free_dead_runs` marks a run whose owner is
gone failed and frees its slots and pending claims, and `wait_for_pools` waits for a pool's slot
itself, sleeping between looks (Dagster 1.13's in-process wait for a slot spins a core and does not
look at signals), freeing the slots of dead runs as it goes.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import dagster as dg

PID_TAG = "meshlake/pid"
HOST_TAG = "meshlake/host"
STARTED_TAG = "meshlake/process_started"
POLL_SECONDS = 1.0
"""How often a run waiting for a pool looks again."""


def _process_started(pid: int) -> str:
    """The process's start time (clock ticks since boot, from /proc), or "" where /proc has none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the command name, in parentheses, may hold spaces


def owner_tags() -> dict[str, str]:
    """The tags naming this process as the owner of a run it starts."""
    pid = os.getpid()
    return {PID_TAG: str(pid), HOST_TAG: socket.gethostname(), STARTED_TAG: _process_started(pid)}


def owner_is_gone(run: dg.DagsterRun) -> bool:
    """Whether the run was started by a meshlake process of this host that no longer runs.

    A run of another host, or not started by meshlake (no owner tags), is never called gone: its
    process cannot be looked at from here (Dagster's run monitoring watches the runs it launched).
    """
    tags = run.tags
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return False
    pid = int(tags[PID_TAG])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    started = tags.get(STARTED_TAG, "")
    return bool(started) and _process_started(pid) not in ("", started)  # the pid now names another process


def free_dead_runs(instance: dg.DagsterInstance, pools: Iterable[str] = ()) -> list[str]:
    """Fail every unfinished run holding a concurrency slot (or waiting for one of `pools`) whose owner is gone,
    and free its slots and claims; free the slots a finished run still holds. Returns the runs freed."""
    storage = instance.event_log_storage
    run_ids = set(storage.get_concurrency_run_ids())
    for pool in pools:
        info = storage.get_concurrency_info(pool)
        run_ids |= info.active_run_ids | info.pending_run_ids | info.assigned_run_ids
    freed = []
    for run_id in sorted(run_ids):
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            if not owner_is_gone(run):
                continue
            instance.report_run_failed(
                run, f"the process of this run (pid {run.tags[PID_TAG]} on {run.tags[HOST_TAG]}) is gone"
            )
        storage.free_concurrency_slots_for_run(run_id)
        freed.append(run_id)
    return freed


def busy_pools(instance: dg.DagsterInstance, pools: Iterable[str]) -> dict[str, set[str]]:
    """The pools among `pools` with no free slot, each with the runs holding its slots."""
    busy = {}
    for pool in pools:
        info = instance.event_log_storage.get_concurrency_info(pool)
        if info.limit is not None and info.active_slot_count >= info.limit:
            busy[pool] = info.active_run_ids
    return busy


def wait_for_pools(
    instance: dg.DagsterInstance,
    pools: Iterable[str],
    on_wait: Callable[[dict[str, set[str]]], None] = lambda _busy: None,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Return once each of `pools` has a free slot, freeing the slots of dead runs meanwhile.

    Sleeps between looks (a signal, Ctrl-C or SIGTERM, ends the wait at once). `on_wait` is told
    the busy pools and their holders before each sleep.
    """
    wanted = sorted(set(pools))
    while True:
        free_dead_runs(instance, wanted)
        busy = busy_pools(instance, wanted)
        if not busy:
            return
        on_wait(busy)
        time.sleep(poll_seconds)
