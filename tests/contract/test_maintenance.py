"""TableMaintenance behaviour suite, over every implementation: fewer files, same rows, history kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pyarrow as pa

from pipelines.adapters.capabilities import incremental_for, maintenance_for
from pipelines.core.names import TableId
from pipelines.core.positions import POSITIONS_PROPERTY, Ledger, PositionRange, encode_positions
from pipelines.ports.maintenance import TableMaintenance
from pipelines.ports.table_store import TableStore

TABLE = TableId("shop", "bronze_clicks")
SCHEMA = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("page", pa.string())])
COMMITS = 200
MB = 1 << 20


def _tiny_commits(store: TableStore, n: int = COMMITS) -> list[int]:
    store.ensure_table(TABLE, SCHEMA)
    versions = []
    for i in range(n):
        rows = pa.table({"id": [i], "page": [f"/p/{i % 7}"]}, schema=SCHEMA)
        props = {POSITIONS_PROPERTY: encode_positions([PositionRange(f"f{i % 3}.pb", i * 10, i * 10 + 10)])}
        versions.append(store.append(TABLE, rows, props).version)
    return versions


def _rows(store: TableStore, as_of: int | None = None) -> list[dict[str, Any]]:
    return sorted(store.read(TABLE, as_of=as_of).to_pylist(), key=lambda r: r["id"])


def test_maintenance_is_offered_by_every_store(table_store: TableStore) -> None:
    assert isinstance(maintenance_for(table_store), TableMaintenance)


def test_200_tiny_commits_compacted_and_expired_keep_rows_ledger_and_time_travel_within_retention(
    table_store: TableStore,
) -> None:
    store, versions = table_store, _tiny_commits(table_store)
    maintenance = maintenance_for(store)
    before = _rows(store)
    ledger = Ledger.from_commits(c.properties for c in store.history(TABLE)).sources()
    assert maintenance.data_files(TABLE) == COMMITS

    done = maintenance.compact(TABLE, small_file_bytes=MB, min_files=8)
    assert done.files_before == COMMITS and done.files_after < 5 and done.rows == COMMITS
    assert maintenance.data_files(TABLE) == done.files_after
    assert _rows(store) == before
    assert _rows(store, as_of=versions[99]) == before[:100]  # time travel within retention still works

    appended = incremental_for(store).read_appended(TABLE, after=versions[-1])
    assert appended.incremental and appended.data.num_rows == 0  # a compaction adds no rows to read

    assert maintenance.expire(TABLE, retention=timedelta(hours=1)).versions_expired == 0
    assert _rows(store, as_of=versions[99]) == before[:100]

    stored = maintenance.stored_files(TABLE)
    time.sleep(0.01)
    expired = maintenance.expire(TABLE, retention=timedelta(0))
    assert expired.versions_expired > 0 and expired.files_deleted > 0
    assert maintenance.stored_files(TABLE) < stored
    assert _rows(store) == before
    assert Ledger.from_commits(c.properties for c in store.history(TABLE)).sources() == ledger  # exactly-once holds

    store.append(TABLE, pa.table({"id": [COMMITS], "page": ["/new"]}, schema=SCHEMA))
    appended = incremental_for(store).read_appended(TABLE, after=store.history(TABLE)[-2].version)
    assert appended.incremental and appended.data.column("id").to_pylist() == [COMMITS]


def test_too_few_small_files_are_left_alone(table_store: TableStore) -> None:
    _tiny_commits(table_store, n=3)
    done = maintenance_for(table_store).compact(TABLE, small_file_bytes=MB, min_files=8)
    assert done.commit is None and done.files_after == done.files_before == 3


def test_orphan_files_older_than_the_limit_are_removed_and_young_ones_kept(
    table_store: TableStore, stored_files: Callable[[], list[str]], put_file: Callable[[str, bytes], None]
) -> None:
    """A file no commit references is deleted only once older than the limit: a concurrent writer's
    files (written, not yet committed) are young and stay."""
    _tiny_commits(table_store, n=5)
    maintenance = maintenance_for(table_store)
    before = _rows(table_store)
    if table_store.format.value == "memory":
        assert maintenance.remove_orphans(TABLE, timedelta(hours=1)) == 0
        return
    files = stored_files()
    root = next(f for f in files if TABLE.name in f.split("/")).split(f"/{TABLE.name}/")[0] + f"/{TABLE.name}"
    folder = f"{root}/data" if any(f.startswith(f"{root}/data/") for f in files) else root
    old, young = f"{folder}/crashed-writer-old.parquet", f"{folder}/crashed-writer-young.parquet"
    put_file(old, b"PAR1 left behind by a writer that died PAR1")
    time.sleep(2.2)  # object stores keep whole seconds
    put_file(young, b"PAR1 being written by a writer that has not committed yet PAR1")
    assert maintenance.remove_orphans(TABLE, older_than=timedelta(seconds=1.2)) >= 1
    assert old not in stored_files() and young in stored_files()
    assert _rows(table_store) == before
