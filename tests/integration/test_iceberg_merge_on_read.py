"""Iceberg upserts asked for merge-on-read (silver's) delete a few rows of a file by position instead of rewriting it.

The table is read back by pyiceberg, by DuckDB's own Iceberg reader and through the store, so the delete
files are checked against the spec's readers, not only against the code that wrote them.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.adapters.capabilities import incremental_for, maintenance_for
from pipelines.adapters.duckdb.engine import DuckDbQueryEngine
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.adapters.iceberg.incremental import MERGE_ON_READ_SHARE
from pipelines.core.names import TableId
from pipelines.ports import incremental
from pipelines.ports.incremental import Rewrite
from pipelines.serving.scans import plan_scan

TABLE = TableId("shop", "silver_carts")
SCHEMA = pa.schema([pa.field("cart_id", pa.string(), nullable=False), pa.field("items", pa.int64())])
FILE_ROWS = 100


def _rows(ids: list[int], items: int) -> pa.Table:
    return pa.table({"cart_id": [f"c{i:05d}" for i in ids], "items": [items] * len(ids)}, schema=SCHEMA)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IcebergTableStore:
    """1,000 carts with 0 items, in 10 files of 100 consecutive keys."""
    monkeypatch.setattr(incremental, "ROWS_PER_FILE", FILE_ROWS)
    store = IcebergTableStore(tmp_path / "warehouse")
    store.ensure_table(TABLE, SCHEMA)
    incremental_for(store).replace_keys(TABLE, "cart_id", None, lambda _current: _rows(list(range(1000)), 0))
    return store


def _set(store: IcebergTableStore, ids: list[int], items: int, merge_on_read: bool = True) -> tuple[Rewrite, pa.Table]:
    """Set the items of carts `ids` (existing or new) to `items`; the replacement sees their current rows."""
    seen: list[pa.Table] = []

    def replace(current: pa.Table) -> pa.Table:
        seen.append(current)
        return _rows(ids, items)

    keys = pa.array([f"c{i:05d}" for i in ids])
    done = incremental_for(store).replace_keys(TABLE, "cart_id", keys, replace, merge_on_read=merge_on_read)
    return done, seen[0]


def _items(store: IcebergTableStore, as_of: int | None = None) -> dict[str, int]:
    return {r["cart_id"]: r["items"] for r in store.read(TABLE, as_of=as_of).to_pylist()}


def _summary(store: IcebergTableStore) -> dict[str, str]:
    snapshot = store._load(TABLE).current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    return dict(snapshot.summary.additional_properties) | {"operation": snapshot.summary.operation.value}


def _duckdb_items(store: IcebergTableStore) -> dict[str, int]:
    engine = DuckDbQueryEngine({"shop.carts": lambda: plan_scan(store, TABLE)}, read_path="native")
    try:
        rows = engine.execute("SELECT cart_id, items FROM shop.carts").table.to_pylist()
        assert engine.read_paths() == {"shop.carts": "native"}
        return {r["cart_id"]: r["items"] for r in rows}
    finally:
        engine.close()


def test_an_update_of_a_few_rows_keeps_the_files_and_every_reader_sees_the_new_rows(store: IcebergTableStore) -> None:
    files = len(list(store._load(TABLE).scan().plan_files()))
    before = store.history(TABLE)[-1].version
    done, current = _set(store, [150, 199, 720, 1000], 7)  # three existing carts in two files, one new

    assert sorted(current.column("cart_id").to_pylist()) == ["c00150", "c00199", "c00720"]
    assert (done.files_rewritten, done.files_merged_on_read, done.table_rows) == (0, 2, 1001)
    summary = _summary(store)
    assert (summary["operation"], summary["added-position-deletes"], summary["total-delete-files"]) == (
        "overwrite",
        "3",
        "1",
    )
    assert len(list(store._load(TABLE).scan().plan_files())) == files + 1  # the old files stay, one file added
    expected = {f"c{i:05d}": 7 if i in (150, 199, 720, 1000) else 0 for i in range(1001)}
    assert _items(store) == expected  # the store (pyiceberg's scan) applies the deletes
    assert _duckdb_items(store) == expected  # and so does DuckDB's Iceberg reader
    assert _items(store, as_of=before) == {f"c{i:05d}": 0 for i in range(1000)}  # time travel before the update


def test_rows_updated_again_are_read_live_and_their_old_positions_are_never_deleted_twice(
    store: IcebergTableStore,
) -> None:
    for items in range(1, 6):
        done, current = _set(store, [420, 421], items)
        assert current.column("items").to_pylist() == [items - 1] * 2  # the live rows, never a deleted one
        assert done.table_rows == 1000
    # the first update deleted the two rows of the large file; later ones rewrite the small file it wrote
    assert _summary(store)["total-position-deletes"] == "2"
    assert _items(store) == {f"c{i:05d}": 5 if i in (420, 421) else 0 for i in range(1000)}


def test_a_file_where_many_rows_change_is_rewritten_instead(store: IcebergTableStore) -> None:
    many = list(range(300, 300 + FILE_ROWS // MERGE_ON_READ_SHARE + 1))  # just over the share of one file
    done, _ = _set(store, [*many, 950], 3)
    assert (done.files_rewritten, done.files_merged_on_read) == (1, 1)
    assert _items(store) == {f"c{i:05d}": 3 if i in [*many, 950] else 0 for i in range(1000)}


def test_the_row_count_stays_exact_when_a_file_with_deleted_rows_is_rewritten(store: IcebergTableStore) -> None:
    _set(store, [150], 1)  # a position delete in the file of 100-199
    done, _ = _set(store, list(range(100, 100 + FILE_ROWS // 2)), 2)  # then half of that file: rewritten
    assert (done.files_rewritten, done.table_rows) == (1, 1000)  # its delete file still counts 1 deleted row
    assert len(store.read(TABLE)) == 1000


def test_changes_since_a_version_are_exactly_the_rows_replaced_and_their_replacements(store: IcebergTableStore) -> None:
    first = store.history(TABLE)[-1].version
    _set(store, [5, 6, 7], 1)
    middle = store.history(TABLE)[-1].version
    _set(store, [6, 500], 2)

    def counted(table: pa.Table) -> Counter[tuple[str, int]]:
        return Counter((r["cart_id"], r["items"]) for r in table.to_pylist())

    changed = incremental_for(store).read_changed(TABLE, first)
    assert counted(changed.removed) == counted(_rows([5, 6, 7, 500], 0))
    assert counted(changed.added) == counted(_rows([5, 7], 1)) + counted(_rows([6, 500], 2))
    since_middle = incremental_for(store).read_changed(TABLE, middle)  # the small file of 5-7 is rewritten whole
    removed, added = counted(since_middle.removed), counted(since_middle.added)
    assert removed - added == counted(_rows([6], 1)) + counted(_rows([500], 0))
    assert added - removed == counted(_rows([6, 500], 2))


def test_compaction_applies_the_deletes_and_drops_the_delete_files(store: IcebergTableStore) -> None:
    for items in range(1, 4):
        _set(store, [10 * items, 990], items)
    expected = _items(store)
    before = store.history(TABLE)[-1].version
    maintenance = maintenance_for(store)

    ranges = _key_ranges(store)

    done = maintenance.compact(TABLE, small_file_bytes=1)  # no file is small: only the deletes call for it

    assert done.commit is not None
    assert _key_ranges(store) == ranges  # each file with deletes came back alone: the key ranges stay
    summary = _summary(store)
    assert (summary["total-delete-files"], summary["total-position-deletes"]) == ("0", "0")
    assert not any(t.delete_files for t in store._load(TABLE).scan().plan_files())
    assert _items(store) == expected and _duckdb_items(store) == expected
    assert _items(store, as_of=before) == expected  # the snapshot before compaction still reads through its deletes
    changed = incremental_for(store).read_changed(TABLE, before)
    assert Counter(map(str, changed.removed.to_pylist())) == Counter(map(str, changed.added.to_pylist()))


def test_expiry_and_orphan_removal_keep_the_delete_files_still_needed(store: IcebergTableStore) -> None:
    _set(store, [1, 2], 9)
    maintenance = maintenance_for(store)
    assert maintenance.remove_orphans(TABLE, older_than=timedelta(0)) == 0
    maintenance.expire(TABLE, retention=timedelta(0))
    assert _items(store) == {f"c{i:05d}": 9 if i in (1, 2) else 0 for i in range(1000)}
    assert _duckdb_items(store)["c00001"] == 9


def test_a_table_set_to_copy_on_write_never_gets_delete_files(store: IcebergTableStore) -> None:
    with store._load(TABLE).transaction() as tx:
        tx.set_properties({"write.update.mode": "copy-on-write"})
    done, _ = _set(store, [150], 4)
    assert (done.files_rewritten, done.files_merged_on_read) == (1, 0)
    assert _summary(store).get("total-delete-files") == "0"
    assert _items(store)["c00150"] == 4


def test_without_merge_on_read_the_files_are_rewritten(store: IcebergTableStore) -> None:
    done, _ = _set(store, [150], 4, merge_on_read=False)  # what gold products ask: files read often stay plain
    assert (done.files_rewritten, done.files_merged_on_read) == (1, 0)
    assert _summary(store).get("total-delete-files") == "0"


def test_a_format_version_1_table_which_cannot_hold_delete_files_is_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "ROWS_PER_FILE", FILE_ROWS)
    store = IcebergTableStore(tmp_path / "warehouse")
    store.ensure_table(TableId("shop", "anything"), SCHEMA)  # makes the namespace
    table = TableId("shop", "v1_carts")
    store._catalog.create_table(("shop", "v1_carts"), schema=SCHEMA, properties={"format-version": "1"})
    rewriter = incremental_for(store)
    rewriter.replace_keys(table, "cart_id", None, lambda _current: _rows(list(range(1000)), 0))
    done = rewriter.replace_keys(table, "cart_id", pa.array(["c00150"]), lambda _c: _rows([150], 4), merge_on_read=True)
    assert (done.files_rewritten, done.files_merged_on_read) == (1, 0)
    assert {r["cart_id"]: r["items"] for r in store.read(table).to_pylist()}["c00150"] == 4


def _key_ranges(store: IcebergTableStore) -> set[tuple[str, str]]:
    """(lowest, highest) key of each data file, from the files themselves."""
    ranges = set()
    for task in store._load(TABLE).scan().plan_files():
        keys = pq.read_table(urlparse(task.file.file_path).path, columns=["cart_id"]).column(0)
        ranges.add((pc.min(keys).as_py(), pc.max(keys).as_py()))
    return ranges
