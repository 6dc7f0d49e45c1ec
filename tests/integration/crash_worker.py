"""The process the kill -9 test kills: one bronze ingestion of landing files, dying at a named stage.

The test forks it from a forkserver that imported this module (and with it pyarrow, pyiceberg,
deltalake and the compiled schemas), so that a run starts in milliseconds. Stages, `<name>:<n>` for
the n-th time the stage is reached in the run:

- `files-written`: a bronze commit's data files are written, its commit is not. Iceberg: inside
  `SqlCatalog.commit_table` of a snapshot (data files, manifests and manifest list exist). Delta:
  a watcher thread kills the process as soon as a new data file appears under the table, before
  the log entry that commits it.
- `quarantine-committed`: the quarantine commit returned; the bronze commit has not started.
- `bronze-committed`: the bronze commit returned; nothing after it happened.
- `none`: no kill (the test's timed kills use it).

Nothing here changes the production code: the hooks wrap the stores and patch the catalog class of
this process only.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table.update import AddSnapshotUpdate

from pipelines.adapters.delta import DeltaTableStore  # noqa: F401  (imported before the fork)
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.adapters.protobuf.compiler import compile_schemas
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer, TableId
from pipelines.services.ingest import ingest_event
from tests.integration.ingest_helpers import orders_runtime
from tests.paths import MESH as PROJECT_DIR

NOW = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)
BRONZE = "bronze_order_placed"
compile_schemas(PROJECT_DIR / "schemas")  # cached in the forkserver, inherited by every run


def die() -> None:
    """SIGKILL this process: no cleanup, no flush, as a crash or an OOM kill would."""
    os.kill(os.getpid(), signal.SIGKILL)


def data_files(table_dir: Path) -> set[str]:
    """Every file under the table except its log and metadata, as delta-rs or pyiceberg name them."""
    found: set[str] = set()
    for folder, dirs, files in os.walk(table_dir):
        dirs[:] = [d for d in dirs if d not in ("_delta_log", "metadata")]
        found.update(os.path.join(folder, f) for f in files)
    return found


def kill_when_a_data_file_appears(table_dir: Path) -> None:
    """Start a thread that kills the process once a file not there now appears under `table_dir`."""
    before = data_files(table_dir)

    def watch() -> None:
        while True:
            if data_files(table_dir) - before:
                die()
            time.sleep(0.0002)

    threading.Thread(target=watch, daemon=True).start()


class Stage:
    """Counts a stage and dies the n-th time it is reached."""

    def __init__(self, spec: str) -> None:
        name, _, n = spec.partition(":")
        self.name, self.n, self.seen = name, int(n or 0), 0

    def reached(self, name: str, before_dying: Callable[[], None] = die) -> None:
        if name == self.name:
            self.seen += 1
            if self.seen == self.n:
                before_dying()


class KillingStore:
    """A store whose appends pass through the stage hooks; everything else is the real store's."""

    def __init__(self, store: Any, layer: Layer, stage: Stage, home: Path) -> None:
        self._store, self._layer, self._stage, self._home = store, layer, stage, home

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def append(self, table: Any, data: Any, properties: Any = None, check: Any = None) -> Any:
        return self._staged(table, lambda: self._store.append(table, data, properties, check))

    def append_batches(self, table: Any, batches: Any, properties: Any, check: Any = None) -> Any:
        return self._staged(table, lambda: self._store.append_batches(table, batches, properties, check))

    def _staged(self, table: Any, write: Callable[[], Any]) -> Any:
        if self._layer is Layer.BRONZE and self._store.format.value == "delta":
            table_dir = self._home / "delta" / table.domain / table.name
            self._stage.reached("files-written", lambda: kill_when_a_data_file_appears(table_dir))
        commit = write()
        if self._layer is Layer.BRONZE and self._stage.name == "files-written":
            time.sleep(0.5)  # a watcher that missed the window still kills, just after the commit
        self._stage.reached("bronze-committed" if self._layer is Layer.BRONZE else "quarantine-committed")
        return commit


class KillingTables:
    """The runtime's stores, wrapped."""

    def __init__(self, runtime: Runtime, stage: Stage) -> None:
        self._runtime, self._stage = runtime, stage

    def store_for(self, domain: str, layer: Layer, product: str | None = None) -> Any:
        store = self._runtime.store_for(domain, layer, product)
        return KillingStore(store, layer, self._stage, self._runtime.settings.home_dir)


def patch_iceberg_commits(stage: Stage) -> None:
    """Reach `files-written` inside the catalog commit of every new bronze snapshot."""
    original = SqlCatalog.commit_table

    def commit_table(self: SqlCatalog, table: Any, requirements: Any, updates: Any) -> Any:
        if table.name()[-1] == BRONZE and any(isinstance(u, AddSnapshotUpdate) for u in updates):
            stage.reached("files-written")
        return original(self, table, requirements, updates)

    SqlCatalog.commit_table = commit_table  # type: ignore[method-assign]


def run(home: str, fmt: str, stage_spec: str, rows_per_commit: int) -> None:
    """One ingestion of `orders.order_placed` landing files under `home`, dying at `stage_spec`."""
    stage = Stage(stage_spec)
    if fmt == "iceberg":
        patch_iceberg_commits(stage)
    runtime = orders_runtime(Path(home), fmt)
    ingest_event(
        runtime.domain("orders"),
        "order_placed",
        runtime.contract("orders", "order_placed"),
        runtime.landing,
        KillingTables(runtime, stage),
        f"run-{os.getpid()}",
        clock=lambda: NOW,
        max_rows_per_commit=rows_per_commit,
    )


def referenced_and_present(home: Path, fmt: str) -> tuple[int, int]:
    """(data files the bronze table's commits added, data files on disk under it)."""
    if fmt == "iceberg":
        table_dir = home / "iceberg" / "orders" / BRONZE
        location = IcebergTableStore(home / "iceberg").location(TableId("orders", BRONZE))
        metadata = json.loads(Path(urlparse(location).path).read_text())
        added = sum(int(s["summary"].get("added-data-files", 0)) for s in metadata.get("snapshots", []))
    else:
        table_dir = home / "delta" / "orders" / BRONZE
        entries = sorted((table_dir / "_delta_log").glob("*.json"))
        added = sum(1 for e in entries for line in e.read_text().splitlines() if "add" in json.loads(line))
    return added, len([f for f in data_files(table_dir) if f.endswith(".parquet")])
