"""`meshlake dev` as people use it: the Dagster UI in headless Chromium, a domain materialised from the UI,
sensors firing in the real daemon, and Ctrl-C leaving no process behind.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright; Playwright never downloads a browser.
Screenshots land in the test's tmp_path. Startup time, idle memory and stop time are printed and written
to `metrics.json` there.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from pipelines.cli.dev import descendants
from pipelines.definitions import build_definitions
from tests.paths import MESH

BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("MESHLAKE_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ORDERS_EVENTS = ("order_placed", "order_cancelled", "order_item_returned")
DONE = {"SUCCESS", "FAILURE", "CANCELED"}
BACKFILL_BUSY = {"REQUESTED", "CANCELING", "FAILING"}
LANDING_SENSORS = {f"orders_{event}_landing" for event in ORDERS_EVENTS}
RUNS = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"
LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"


def free_port() -> int:
    """A loopback port free now, below Linux's ephemeral range (32768-60999): a port the kernel picked (bind to 0)
    could be given to another test's outgoing connection before `make dev` binds it ("address already in use")."""
    for _ in range(200):
        port = random.randint(20_000, 32_767)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32767 on 127.0.0.1")


def ignore_interrupts() -> None:
    """What a shell does to a job started with `&`: SIGINT and SIGQUIT ignored (inherited across exec)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)


def services_rss_mb(root: int) -> tuple[float, int]:
    """RSS sum and count of `root` and its descendants, leaving out run workers (`dagster api execute_run`)
    and the step processes below them: what `meshlake dev` itself costs."""
    tree = descendants(root) | {root}
    workers = {pid for pid in tree if b"execute_run" in _read(Path(f"/proc/{pid}/cmdline"))}
    services = tree - workers - {child for pid in workers for child in descendants(pid)}
    total_kb = 0
    for pid in services:
        match = re.search(rb"^VmRSS:\s+(\d+) kB", _read(Path(f"/proc/{pid}/status")), re.MULTILINE)
        total_kb += int(match.group(1)) if match else 0
    return round(total_kb / 1024, 1), len(services)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def parent_of(pid: int) -> int:
    stat = _read(Path(f"/proc/{pid}/stat")).decode()
    return int(stat[stat.rfind(")") + 2 :].split()[1]) if stat else 0


def processes_mentioning(text: str) -> set[int]:
    """Processes whose environment or command line holds `text` (our MESHLAKE_HOME): orphans, after a stop."""
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if text.encode() in (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
        except OSError:
            continue
    return alive(found)


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2] != "Z":
            living.add(pid)
    return living


def wait_for(condition: Callable[[], object], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not true after {timeout_s} s"
        time.sleep(0.5)


@dataclass
class Dev:
    """A running `meshlake dev` started by the test."""

    process: subprocess.Popen[bytes]
    ui: str
    catalog: str
    log: Path
    metrics: dict[str, float] = field(default_factory=dict)

    def graphql(self, query: str) -> dict[str, Any]:
        answer = httpx.post(f"{self.ui}/graphql", json={"query": query}, timeout=30)
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()["data"]
        return data

    def backfill_status(self, backfill: str) -> str:
        query = f'{{ partitionBackfillOrError(backfillId: "{backfill}") {{ ... on PartitionBackfill {{ status }} }} }}'
        return str(self.graphql(query)["partitionBackfillOrError"].get("status"))

    def runs(self) -> list[dict[str, Any]]:
        runs = self.graphql(RUNS)["runsOrError"]["results"]
        return [{**r, "tags": {t["key"]: t["value"] for t in r["tags"]}} for r in runs]

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}; meshlake dev log ends with:\n{self.log.read_text(errors='replace')[-4000:]}")

    def wait_until_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.fail(f"meshlake dev exited with {self.process.returncode}")
            try:
                entries = self.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"]
                catalog = httpx.get(f"{self.catalog}/api/health", timeout=2).status_code
                if catalog == 200 and [(e["name"], e["loadStatus"]) for e in entries] == [("meshlake", "LOADED")]:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.fail("the Dagster UI and the catalog did not answer in time")


def start_dev(env: dict[str, str], cwd: Path, log: Path, **popen: object) -> Dev:
    """Start `meshlake dev` on free ports, its output in `log` (`popen`: more of Popen's arguments)."""
    port, catalog_port = free_port(), free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(  # type: ignore[call-overload]
            [str(BIN / "meshlake"), "dev", "--port", str(port), "--catalog-port", str(catalog_port)],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **popen,
        )
    return Dev(process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{catalog_port}", log)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a child started in a session of its own, if it still runs: its group and every process below it."""
    if process.poll() is None:
        tree = descendants(process.pid)
        os.killpg(process.pid, signal.SIGKILL)
        for pid in alive(tree):
            os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    """`meshlake dev` on free ports, with MESHLAKE_HOME (3,000 generated orders events) and TMPDIR under tmp_path."""
    (tmp_path / "t").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    env |= {"MESHLAKE_HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path / "t"), "COLUMNS": "200"}
    env["MESHLAKE_PROJECT"] = str(MESH)
    generate = [str(BIN / "meshlake"), "generate", "--domain", "orders", "--count", "3000", "--files", "2"]
    subprocess.run(generate, env=env, check=True, capture_output=True, cwd=tmp_path, timeout=180)
    started = time.monotonic()
    server = start_dev(env, tmp_path, tmp_path / "dev.log", preexec_fn=ignore_interrupts)
    process = server.process
    try:
        server.wait_until_ready()
        server.metrics["startup_s"] = round(time.monotonic() - started, 1)
        time.sleep(2)
        server.metrics["idle_rss_mb"], server.metrics["processes"] = services_rss_mb(process.pid)
        yield server
    finally:
        if process.poll() is None:
            tree = descendants(process.pid)
            process.kill()
            for pid in alive(tree):
                os.kill(pid, signal.SIGKILL)
        (tmp_path / "metrics.json").write_text(json.dumps(server.metrics, indent=2))
        print(f"\nmeshlake dev metrics: {server.metrics}")


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test installs it as root)")
    # The browser's profile and sockets stay in tmp_path; short names: a socket path holds at most 107 bytes.
    for var, short in (("HOME", "h"), ("TMPDIR", "t"), ("XDG_CONFIG_HOME", "c"), ("XDG_CACHE_HOME", "x")):
        (tmp_path / "b" / short).mkdir(parents=True)
        monkeypatch.setenv(var, str(tmp_path / "b" / short))
    # No browser.close(): it waits for Chromium without a time limit. Leaving the block stops Playwright's driver,
    # which closes the browser gracefully for at most 30 s and then kills it.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(30_000)
        expect.set_options(timeout=30_000)  # the UI's live data queries are slow on a busy 2-core machine
        yield context.new_page()


def metadata_value(page: Page, label: str) -> str:
    """The value next to `label` in the metadata table of the selected materialisation."""
    row = page.locator("tr", has=page.get_by_text(label, exact=True))
    return row.first.locator("td").nth(1).inner_text().strip()


def group_assets() -> dict[str, list[list[str]]]:
    """Every group (domain) and the paths of its asset keys (`["orders", "bronze", "order_placed"]`)."""
    graph = build_definitions().resolve_asset_graph()
    groups: dict[str, list[list[str]]] = {}
    for key in graph.get_all_asset_keys():
        groups.setdefault(graph.get(key).group_name, []).append(list(key.path))
    return groups


def test_dev_ui(dev: Dev, page: Page, tmp_path: Path) -> None:
    """Every domain's assets listed and drawn; orders materialised from the UI with its metadata shown;
    the landing sensor ran bronze by itself; Ctrl-C stops everything (the short name keeps socket paths short)."""
    shots = tmp_path / "screenshots"
    began = time.monotonic()

    def phase(name: str) -> None:
        dev.metrics[f"t_{name}_s"] = round(time.monotonic() - began, 1)

    for group, keys in sorted(group_assets().items()):
        page.goto(f"{dev.ui}/locations/meshlake/asset-groups/{group}/list")
        for path in keys:
            expect(page.locator(f'a[href="/assets/{"/".join(path)}"]').first).to_be_visible()
        page.goto(f"{dev.ui}/locations/meshlake/asset-groups/{group}/lineage")
        for path in keys:
            expect(page.get_by_text(path[-1], exact=True).first).to_be_visible()
        expect(page.get_by_text(re.compile(r"^Loading"))).to_have_count(0, timeout=30_000)
        page.screenshot(path=shots / f"group-{group}.png")

    phase("groups_checked")
    # The daemon's landing sensors see the generated files and launch bronze, untouched by the test.
    wait_for(lambda: {r["tags"].get("dagster/sensor_name") for r in dev.runs()} >= LANDING_SENSORS, 60)

    phase("sensor_runs_seen")
    page.goto(f"{dev.ui}/locations/meshlake/asset-groups/orders/lineage")
    page.get_by_role("button", name="Materialize all").click()
    # daily_revenue is partitioned by day: the group is a backfill of every day, which the daemon runs
    page.get_by_role("button", name="All", exact=True).click()  # the dialog starts with no partition chosen
    page.get_by_role("button", name="Launch backfill").click()
    toast = page.get_by_text(re.compile(r"Created backfill [a-z]{8}"))
    expect(toast).to_be_visible(timeout=30_000)  # launching asks the code server for the plan: slow under load
    page.screenshot(path=shots / "launched.png")
    backfill = toast.inner_text().split()[-1]
    wait_for(lambda: dev.backfill_status(backfill) not in BACKFILL_BUSY, 240)
    runs = [r for r in dev.runs() if r["tags"].get("dagster/backfill") == backfill]
    assert runs and {r["status"] for r in runs} == {"SUCCESS"}, dev.backfill_status(backfill)
    page.goto(f"{dev.ui}/runs/{runs[0]['runId']}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=120_000)
    page.screenshot(path=shots / "run.png")
    phase("ui_run_succeeded")

    page.goto(f"{dev.ui}/assets/orders/bronze/order_placed?view=events")
    events = page.locator("[data-index]")  # the landing sensor's run and the UI's (and the schedule's at :00)
    expect(events.nth(1)).to_be_visible()
    written, table_rows = [], 0
    for i in range(events.count()):
        events.nth(i).click()
        for label in ("quarantined", "version", "dagster/uri", "schema_version", "sources"):
            expect(page.get_by_text(label, exact=True).first).to_be_visible()
        written.append(int(metadata_value(page, "rows_written")))
        table_rows = max(table_rows, int(metadata_value(page, "dagster/row_count")))
        page.screenshot(path=shots / f"bronze-event-{i}.png", full_page=True)
    assert max(written) == sum(written) == table_rows > 1_000  # one run ingested the files, the other nothing
    page.goto(f"{dev.ui}/assets/orders/bronze/order_placed")
    expect(page.get_by_text(f"{table_rows:,}", exact=True).first).to_be_visible()  # "Row count"
    for text in ("team-orders", "protobuf", "Iceberg", "event_id", "pii: pseudonymous"):
        expect(page.get_by_text(text, exact=True).first).to_be_visible()
    page.screenshot(path=shots / "bronze-overview.png", full_page=True)
    page.goto(f"{dev.ui}/assets/orders/bronze/order_placed?view=checks")
    expect(page.get_by_text("quarantine_rate", exact=True).first).to_be_visible()
    page.goto(f"{dev.ui}/assets/orders/gold/daily_revenue?view=events")
    expect(page.get_by_role("link", name=f"{dev.catalog}/products/orders.daily_revenue").first).to_be_visible()
    page.screenshot(path=shots / "gold-events.png", full_page=True)

    phase("metadata_checked")
    sensor_runs = [r for r in dev.runs() if r["tags"].get("dagster/sensor_name") in LANDING_SENSORS]
    assert sorted(r["tags"]["dagster/sensor_name"] for r in sensor_runs) == sorted(LANDING_SENSORS)  # once each
    ids = {r["runId"] for r in sensor_runs}
    wait_for(lambda: all(r["status"] in DONE for r in dev.runs() if r["runId"] in ids), 60)
    assert {r["status"] for r in dev.runs() if r["runId"] in ids} == {"SUCCESS"}
    page.goto(f"{dev.ui}/locations/meshlake/asset-groups/orders/lineage")
    expect(page.get_by_text("daily_revenue", exact=True).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Loading"))).to_have_count(0, timeout=30_000)
    page.screenshot(path=shots / "group-orders-materialized.png")

    phase("before_stop")
    # Stop now, whether or not the automation sensor has a silver/gold run going: nothing may survive.
    dev.metrics["rss_after_runs_mb"], _ = services_rss_mb(dev.process.pid)
    stopping = time.monotonic()
    dev.process.send_signal(signal.SIGINT)  # Ctrl-C, although started the way `make dev &` starts it
    assert dev.process.wait(timeout=60) == 0
    dev.metrics["stop_s"] = round(time.monotonic() - stopping, 1)
    assert processes_mentioning(str(tmp_path / "home")) == set(), "processes left behind"


STUBBORN = """
import os, signal, sys, time
if os.fork() == 0:  # a grandchild that leaves the process group and ignores polite signals
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(sys.argv[1], "w").write(str(os.getpid()))
        time.sleep(600)
    os._exit(0)  # its parent exits: the grandchild is orphaned and re-parented to the subreaper
time.sleep(600)
"""
SUPERVISE = """
import sys
from pathlib import Path
from pipelines.cli.dev import Child, Supervisor
child = Child("stubborn", [sys.executable, "-c", sys.argv[1], sys.argv[2]])
sys.exit(Supervisor({}, Path(sys.argv[3]), stop_timeout_s=1.0).run([child]))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_supervisor_leaves_no_orphan_even_a_detached_one_ignoring_signals(tmp_path: Path, sig: signal.Signals) -> None:
    marker = tmp_path / "grandchild.pid"
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISE, STUBBORN, str(marker), str(tmp_path)], preexec_fn=ignore_interrupts
    )
    try:
        wait_for(lambda: marker.exists() and marker.read_text(), 30)
        grandchild = int(marker.read_text())
        # Orphaned, in its own session, and re-parented to `meshlake dev` (the subreaper), not to init.
        wait_for(lambda: parent_of(grandchild) == supervisor.pid, 10)
        assert os.getsid(grandchild) != os.getsid(supervisor.pid)
        supervisor.send_signal(sig)
        assert supervisor.wait(timeout=30) == 0
        assert alive({grandchild}) == set()
    finally:
        leftover = alive(descendants(supervisor.pid) | {supervisor.pid})  # all of it, whatever failed above
        leftover |= alive({int(marker.read_text())}) if marker.exists() and marker.read_text() else set()
        for pid in leftover:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        supervisor.wait(30)
