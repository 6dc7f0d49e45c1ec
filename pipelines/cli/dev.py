"""`meshlake dev`: the Dagster dev UI and the catalog service as child processes, stopped together.

Each child runs in its own session (process group) with the default signal dispositions restored
before exec: a shell that starts `meshlake dev &` makes it ignore SIGINT, and an ignored signal stays
ignored across exec, so without the reset `dagster dev` would never stop. Ctrl-C, SIGTERM or SIGHUP
to `meshlake dev` sends SIGINT to every child's group (what a terminal's Ctrl-C does, which Dagster
handles gracefully), then SIGTERM, then SIGKILL to whatever is left. On Linux `meshlake dev` is a
child subreaper, so a grandchild whose parent died is re-parented to it and still found and stopped.
`meshlake dev` execs `python -m pipelines.cli.dev` (same process), which imports the standard library only;
the CLI hands it the project, the home and every effective setting (as `MESHLAKE_*` in its environment).
With the log format `json`, its own lines and those of `dagster dev` (its webserver and daemon: Dagster's
`--log-format json`) and of the catalog are JSON objects, one a line.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import functools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from pipelines import logs  # standard library only
from pipelines.cli.local_storage import LocalObjectStore, Storage, local_object_store
from pipelines.core.extras import require  # standard library only

POSTGRES_PROFILE = "dagster.postgres.yaml"
"""The project's instance settings with Dagster's storage on PostgreSQL (setting `dagster_postgres_url`)."""

# The supervisor imports the standard library only (it stays ~15 MB); hence the name, not the import, of
# pipelines.dagster.code_location.CODE_MODULE (a test keeps them equal).
CODE_MODULE = "meshlake.definitions"
LOCATION_NAME = "meshlake"
_CATALOG_MAIN = "from catalog.cli import app; app(prog_name='meshlake catalog')"
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_CHILD_SUBREAPER = 36
# `dagster dev` warns that `dg dev` supersedes it; `meshlake dev` is what people run, and the warning is
# written before Dagster's loggers (and their format) are set up.
_SUPERSEDED = "ignore:Function `dev_command` is superseded"


@dataclass(frozen=True)
class Child:
    """A process `meshlake dev` runs: a name for messages and its command line."""

    name: str
    cmd: list[str]


class DevError(Exception):
    """The project lacks what `meshlake dev` needs; names the file."""


def dagster_yaml(project: Path, postgres: bool) -> Path:
    """The project's instance settings: `dagster.yaml`, or `dagster.postgres.yaml` for PostgreSQL storage.

    Raises:
        DevError: the project has no such file.
    """
    path = project / (POSTGRES_PROFILE if postgres else "dagster.yaml")
    if not path.is_file():
        why = " (dagster_postgres_url is set)" if postgres else ""
        raise DevError(f"{path}: missing: the project's Dagster instance settings{why}")
    if postgres:
        require("dagster_postgres")
    return path


@contextlib.contextmanager
def initialising(home: Path) -> Iterator[None]:
    """Hold the home's initialisation lock (`<home>/.initialising.lock`, an exclusive `flock`) meanwhile.

    Two first runs on a new home would each create Dagster's storage (SQLite tables, alembic's
    version stamp) at once: one failed ("table ... already exists") or left two alembic heads that
    refused every later run. Under the lock the second finds the storage made. The kernel drops
    the lock when its holder dies.
    """
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".initialising.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def prepare_dagster_home(home: Path, project: Path, postgres: bool = False) -> Path:
    """Create `<home>/dagster` (DAGSTER_HOME) holding the project's chosen profile as its dagster.yaml.

    The file is replaced whole, and only when it differs: another process loading the instance at
    that moment (a run starting) reads the old file or the new one, never a truncated one.
    """
    wanted = dagster_yaml(project, postgres).read_bytes()
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    if not target.is_file() or target.read_bytes() != wanted:
        partial = dagster_home / f".dagster.yaml.{os.getpid()}.partial"
        partial.write_bytes(wanted)
        os.replace(partial, target)
    return dagster_home


def write_workspace(dagster_home: Path) -> Path:
    """A workspace file naming the code location `meshlake` (as pyproject's `[tool.dagster]` does)."""
    workspace = dagster_home / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - python_module:\n      module_name: {CODE_MODULE}\n      location_name: {LOCATION_NAME}\n"
    )
    return workspace


def dev_children(
    port: int, catalog_port: int, workspace: Path, python: str = sys.executable, log_format: str = "text"
) -> list[Child]:
    """`dagster dev` (webserver, daemon, code server) and the catalog service, both on 127.0.0.1; with `log_format`
    `json`, Dagster's services log JSON lines (the catalog reads the format from its environment)."""
    host = "127.0.0.1"
    dagster = [python, "-W", _SUPERSEDED, "-m", "dagster", "dev", "-h", host, "-p", str(port), "-w", str(workspace)]
    return [
        Child("dagster", dagster + (["--log-format", "json"] if log_format == "json" else [])),
        Child("catalog", [python, "-c", _CATALOG_MAIN, "serve", "--host", host, "--port", str(catalog_port)]),
    ]


def _reset_signals() -> None:
    """Run in the child before exec: default dispositions and an empty signal mask."""
    for sig in (*_STOP_SIGNALS, signal.SIGQUIT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _become_subreaper() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, state) of every process, from /proc (empty where there is no /proc)."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), fields[0])
    return table


def _say(message: str, level: int = logging.INFO, fmt: str | None = None) -> None:
    logs.say(message, level, "pipelines.cli.dev", fmt)  # its name also when it runs as __main__


def descendants(pid: int) -> set[int]:
    """Every living process below `pid` (Linux; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for child, (parent, state) in _proc_table().items():
        if state != "Z":
            children.setdefault(parent, []).append(child)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class Supervisor:
    """Starts children in their own process groups and stops all of them, and their descendants.

    Args:
        env: the children's environment.
        cwd: their working directory.
        say: prints what happens.
        stop_timeout_s: how long each stop stage (SIGINT, then SIGTERM) may take before the next one.
    """

    def __init__(
        self, env: Mapping[str, str], cwd: Path, say: Callable[[str], None] = _say, stop_timeout_s: float = 20.0
    ) -> None:
        self.env = dict(env)
        self.cwd = cwd
        self.say = say
        self.stop_timeout_s = stop_timeout_s
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.stopped_last: set[str] = set()
        self._stop = threading.Event()
        self._reason = ""

    def start(self, child: Child) -> None:
        """Start one child in a new session with default signal dispositions."""
        self.processes[child.name] = subprocess.Popen(
            child.cmd,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_reset_signals,
        )

    def request_stop(self, signum: int, frame: FrameType | None = None) -> None:
        """Signal handler: ask the main loop to stop everything."""
        self._reason = signal.Signals(signum).name
        self._stop.set()

    def run(self, children: list[Child]) -> int:
        """Start the children, wait for a stop signal or for one of them to exit, then stop them all.

        Returns:
            0 when stopped by a signal, 1 when a child exited on its own.
        """
        _become_subreaper()
        for sig in _STOP_SIGNALS:
            signal.signal(sig, self.request_stop)
        exit_code = 0
        try:
            for child in children:
                self.start(child)
            while not self._stop.wait(0.5):
                self._reap_adopted()
                exited = [name for name, p in self.processes.items() if p.poll() is not None]
                if exited:
                    self.say(f"{exited[0]} exited with code {self.processes[exited[0]].returncode}")
                    exit_code = 1
                    break
            if self._reason:
                last = [n for n in self.processes if n in self.stopped_last]
                then = f", then {', '.join(last)}" if last else ""
                self.say(f"{self._reason}: stopping {', '.join(n for n in self.processes if n not in last)}{then}")
        finally:
            self.stop()
        return exit_code

    def stop(self) -> None:
        """Stop every child's process group and every descendant, gently first; the children named in
        `stopped_last` (the storage the others use) once the others are gone. Idempotent."""
        first = {n: p for n, p in self.processes.items() if n not in self.stopped_last}
        if len(first) < len(self.processes):
            self._stop_these(first, spared=[p for n, p in self.processes.items() if n in self.stopped_last])
        self._stop_these(self.processes, spared=[])

    def _stop_these(
        self, processes: Mapping[str, subprocess.Popen[bytes]], spared: list[subprocess.Popen[bytes]]
    ) -> None:
        """Stop `processes` and every descendant but the `spared` processes and theirs."""

        def others() -> set[int]:
            kept = {p.pid for p in spared}
            return descendants(os.getpid()) - kept - {d for pid in kept for d in descendants(pid)}

        leftover = others()
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._signal_groups(processes, sig)
            if self._wait_all(processes, self.stop_timeout_s, leftover, others):
                return
        self._signal_groups(processes, signal.SIGKILL)
        for pid in others() | leftover:
            _send(pid, signal.SIGKILL)
        self._wait_all(processes, 5.0, leftover, others)

    @staticmethod
    def _signal_groups(processes: Mapping[str, subprocess.Popen[bytes]], sig: signal.Signals) -> None:
        for process in processes.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)

    def _wait_all(
        self,
        processes: Mapping[str, subprocess.Popen[bytes]],
        timeout_s: float,
        pids: set[int],
        others: Callable[[], set[int]],
    ) -> bool:
        """Wait until `processes` exited and no process of `pids` or of `others()` (below us) is alive."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._reap_adopted()
            done = all(p.poll() is not None for p in processes.values())
            alive = {pid for pid in pids if _alive(pid)} | others()
            if done and not alive:
                return True
            time.sleep(0.1)
        return False

    def _reap_adopted(self) -> None:
        """Collect exited grandchildren re-parented to us (we are their subreaper)."""
        ours = {p.pid for p in self.processes.values()}
        for pid, (parent, state) in _proc_table().items():
            if parent == os.getpid() and state == "Z" and pid not in ours:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2 :].split()[0] != "Z"


def _send(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def run_dev(
    home: Path,
    project: Path,
    port: int,
    catalog_port: int,
    postgres: bool = False,
    env: Mapping[str, str] | None = None,
    storage: Storage = Storage.LOCAL,
    domains: Sequence[str] = (),
    weed: str | None = None,
    log_format: str = "text",
) -> int:
    """Run `dagster dev` and the catalog service until Ctrl-C / SIGTERM; returns the exit code.

    Args:
        home: `MESHLAKE_HOME`; Dagster's instance lives in `<home>/dagster`.
        project: the project folder (its dagster.yaml, its domains).
        port: the Dagster UI's port on 127.0.0.1.
        catalog_port: the catalog service's port on 127.0.0.1.
        postgres: Dagster's storage on PostgreSQL (the project's dagster.postgres.yaml).
        env: the children's environment to start from (default: this process's, as the CLI set it).
        storage: `s3` runs a SeaweedFS under the home for as long as they run, warehouse and landing on it.
        domains: the project's domains; on `s3` each gets a key writing only its own Iceberg tables, which
            the catalog's Iceberg REST endpoint hands to the domain (readers get a read-only key).
        weed: SeaweedFS's executable (the setting `weed`; default: beside this Python, else on PATH).
        log_format: `text`, or `json`: every line `meshlake dev` and Dagster's services write is a JSON object.
    """
    base = dict(os.environ if env is None else env)
    say = functools.partial(_say, fmt=log_format)
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(local_object_store(home, domains, weed)) if storage is Storage.S3 else None
        if store is not None:
            base |= store.variables()
            say(f"S3:         {store.server.endpoint}  (SeaweedFS, data in {store.server.data_dir})")
        return _run_dev(home, project, port, catalog_port, postgres, base, store, say, log_format)


def _run_dev(
    home: Path,
    project: Path,
    port: int,
    catalog_port: int,
    postgres: bool,
    base: dict[str, str],
    store: LocalObjectStore | None,
    say: Callable[[str], None],
    log_format: str,
) -> int:
    dagster_home = prepare_dagster_home(home, project, postgres)
    catalog_url = f"http://127.0.0.1:{catalog_port}"
    child_env = base | {"MESHLAKE_PROJECT": str(project), "MESHLAKE_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
    child_env.setdefault("MESHLAKE_CATALOG_WEB_URL", catalog_url)
    say(f"Dagster UI: http://127.0.0.1:{port}  (DAGSTER_HOME={dagster_home})")
    say(f"catalog:    {catalog_url}  (Ctrl-C stops both)")
    say(f"Iceberg REST catalog for any engine: {catalog_url}/iceberg  (a token: meshlake catalog token create)")
    children = dev_children(port, catalog_port, write_workspace(dagster_home), log_format=log_format)
    supervisor = Supervisor(child_env, dagster_home, say)
    if store is not None and store.server.process is not None:  # its exit stops the others; stopped after them
        supervisor.processes["seaweedfs"] = store.server.process
        supervisor.stopped_last.add("seaweedfs")
    return supervisor.run(children)


def main(argv: list[str] | None = None) -> int:
    """`python -m pipelines.cli.dev --home H --project D --port P --catalog-port C` (what `meshlake dev` execs)."""
    parser = argparse.ArgumentParser(prog="meshlake dev", description=__doc__)
    parser.add_argument("--home", type=Path, required=True, help="MESHLAKE_HOME")
    parser.add_argument("--project", type=Path, required=True, help="the project folder")
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port (127.0.0.1)")
    parser.add_argument("--catalog-port", type=int, default=8765, help="catalog service port (127.0.0.1)")
    parser.add_argument("--postgres", action="store_true", help="Dagster's storage on PostgreSQL")
    parser.add_argument("--storage", choices=[s.value for s in Storage], default="local", help="local or s3")
    parser.add_argument("--domain", action="append", default=[], help="a domain of the project (keys on s3)")
    parser.add_argument("--weed", help="SeaweedFS's executable (the setting weed)")
    parser.add_argument("--log-format", choices=["text", "json"], default="text", help="the setting log_format")
    parser.add_argument("--verbose", action="store_true", help="the traceback of an error too")
    args = parser.parse_args(argv)
    from pipelines.adapters.seaweedfs.server import SeaweedStartError, WeedNotFoundError  # standard library only

    try:
        return run_dev(
            args.home.resolve(),
            args.project.resolve(),
            args.port,
            args.catalog_port,
            args.postgres,
            storage=Storage(args.storage),
            domains=args.domain,
            weed=args.weed,
            log_format=args.log_format,
        )
    except (DevError, WeedNotFoundError, SeaweedStartError) as exc:
        if args.verbose:
            traceback.print_exc()
        _say(str(exc), logging.ERROR, fmt=args.log_format)
        return 1


if __name__ == "__main__":
    sys.exit(main())
