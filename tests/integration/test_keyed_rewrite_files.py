"""Keyed rewrites on Iceberg and Delta touch only the data files that hold a replaced key.

What the rewrite changed is read back through `read_changed` (the table's own log of added and
removed files), not from the counts the rewrite reports about itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.adapters.capabilities import incremental_for
from pipelines.adapters.delta import DeltaTableStore
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.core.names import TableId
from pipelines.ports import incremental
from pipelines.ports.table_store import TableStore

TABLE = TableId("shop", "silver_carts")
SCHEMA = pa.schema([pa.field("cart_id", pa.string(), nullable=False), pa.field("items", pa.int64())])
FILE_ROWS = 100


def _rows(ids: range, items: int) -> pa.Table:
    return pa.table({"cart_id": [f"c{i:05d}" for i in ids], "items": [items] * len(ids)}, schema=SCHEMA)


def _store(fmt: str, root: Path) -> TableStore:
    return IcebergTableStore(root / "warehouse") if fmt == "iceberg" else DeltaTableStore(root / "delta")


@pytest.fixture(params=["iceberg", "delta"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TableStore:
    """A table of 1,000 carts in 10 files of 100 consecutive keys each."""
    monkeypatch.setattr(incremental, "ROWS_PER_FILE", FILE_ROWS)
    store = _store(request.param, tmp_path)
    store.ensure_table(TABLE, SCHEMA)
    incremental_for(store).replace_keys(TABLE, "cart_id", None, lambda _current: _rows(range(1000), 0))
    return store


def _version(store: TableStore) -> int:
    return store.history(TABLE)[-1].version


def test_a_batch_of_only_new_keys_rewrites_no_existing_file(store: TableStore) -> None:
    before = _version(store)
    new = _rows(range(1000, 1050), 1)
    done = incremental_for(store).replace_keys(TABLE, "cart_id", new.column("cart_id"), lambda current: new)

    changed = incremental_for(store).read_changed(TABLE, before)
    assert changed.incremental and changed.removed.num_rows == 0
    assert changed.added.sort_by("cart_id").equals(new)
    appended = incremental_for(store).read_appended(TABLE, before)
    assert appended.incremental and appended.data.num_rows == 50  # downstream readers see a plain append
    assert done.rows_rewritten == 0 and store.read(TABLE).num_rows == 1050


def test_a_new_key_inside_a_file_key_range_rewrites_no_existing_file(store: TableStore) -> None:
    before = _version(store)
    late = pa.table({"cart_id": ["c00150x"], "items": [1]}, schema=SCHEMA)  # sorts between c00150 and c00151
    incremental_for(store).replace_keys(TABLE, "cart_id", late.column("cart_id"), lambda current: late)

    changed = incremental_for(store).read_changed(TABLE, before)
    assert (changed.removed.num_rows, changed.added.to_pylist()) == (0, late.to_pylist())


def test_updates_rewrite_only_the_files_that_hold_their_keys(store: TableStore) -> None:
    before = _version(store)
    keys = pa.array(["c00150", "c00199", "c00720"])  # two in the file of 100-199, one in that of 700-799

    def bump(current: pa.Table) -> pa.Table:
        return current.set_column(1, "items", pa.array([7] * current.num_rows, pa.int64()))

    incremental_for(store).replace_keys(TABLE, "cart_id", keys, bump)

    changed = incremental_for(store).read_changed(TABLE, before)
    held = [f"c{i:05d}" for i in [*range(100, 200), *range(700, 800)]]
    assert sorted(changed.removed.column("cart_id").to_pylist()) == held
    assert changed.added.num_rows == 2 * FILE_ROWS
    current = {r["cart_id"]: r["items"] for r in store.read(TABLE).to_pylist()}
    assert len(current) == 1000 and sum(current.values()) == 3 * 7
    assert (current["c00150"], current["c00199"], current["c00720"], current["c00151"]) == (7, 7, 7, 0)


def test_a_large_file_comes_back_as_key_range_files_so_later_updates_rewrite_less(
    store: TableStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "ROWS_PER_FILE", 10 * FILE_ROWS)
    incremental_for(store).replace_keys(TABLE, "cart_id", None, lambda _current: _rows(range(1000), 0))  # one file
    monkeypatch.setattr(incremental, "ROWS_PER_FILE", FILE_ROWS)

    def bump(current: pa.Table) -> pa.Table:
        return current.set_column(1, "items", pa.array([7] * current.num_rows, pa.int64()))

    first = _version(store)
    incremental_for(store).replace_keys(TABLE, "cart_id", pa.array(["c00420"]), bump)
    assert incremental_for(store).read_changed(TABLE, first).removed.num_rows == 1000  # the one large file

    second = _version(store)
    incremental_for(store).replace_keys(TABLE, "cart_id", pa.array(["c00421"]), bump)
    changed = incremental_for(store).read_changed(TABLE, second)
    assert sorted(changed.removed.column("cart_id").to_pylist()) == [f"c{i:05d}" for i in range(400, 500)]
    current = {r["cart_id"]: r["items"] for r in store.read(TABLE).to_pylist()}
    assert len(current) == 1000 and sum(current.values()) == 2 * 7


@pytest.mark.parametrize(
    ("key_type", "day"),
    [(pa.timestamp("us", "UTC"), lambda n: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n)),
     (pa.date32(), lambda n: date(2026, 1, 1) + timedelta(days=n))],
    ids=["timestamp", "date"],
)  # fmt: skip
@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_an_upsert_of_a_time_key_reads_only_the_files_whose_range_holds_it(
    tmp_path: Path, fmt: str, key_type: pa.DataType, day: Callable[[int], object]
) -> None:
    schema = pa.schema([pa.field("at", key_type), pa.field("n", pa.int64())])
    store = _store(fmt, tmp_path)
    store.ensure_table(TABLE, schema)
    rewriter = incremental_for(store)
    for first in (0, 100, 200):  # three files: days 0-9, 100-109, 200-209
        days = pa.array([day(first + i) for i in range(10)], key_type)
        rows = pa.table({"at": days, "n": [0] * len(days)}, schema=schema)
        rewriter.replace_keys(TABLE, "at", days, functools.partial(_same, rows))
    wanted = pa.array([day(105)], key_type)
    done = rewriter.replace_keys(TABLE, "at", wanted, lambda _c: pa.table({"at": wanted, "n": [1]}, schema=schema))
    assert done.files_scanned == 1  # the file of days 100-109 alone
    assert store.read(TABLE).num_rows == 30


def _same(rows: pa.Table, _current: pa.Table) -> pa.Table:
    return rows


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_an_upsert_of_other_keys_does_not_read_a_file_of_only_null_keys(tmp_path: Path, fmt: str) -> None:
    schema = pa.schema([pa.field("k", pa.string()), pa.field("n", pa.int64())])
    store = _store(fmt, tmp_path)
    store.ensure_table(TABLE, schema)
    rewriter = incremental_for(store)
    for keys in (["a", "b"], [None], ["x", "y"]):  # three files, one of only the null key
        wanted = pa.array(keys, pa.string())
        rows = pa.table({"k": wanted, "n": [0] * len(keys)})
        rewriter.replace_keys(TABLE, "k", wanted, functools.partial(_same, rows))
    wanted = pa.array(["x"], pa.string())
    done = rewriter.replace_keys(TABLE, "k", wanted, functools.partial(_same, pa.table({"k": wanted, "n": [1]})))
    assert done.files_scanned == 1  # the file of x and y alone
    assert sorted(store.read(TABLE).to_pylist(), key=str) == sorted(
        [{"k": "a", "n": 0}, {"k": "b", "n": 0}, {"k": None, "n": 0}, {"k": "x", "n": 1}, {"k": "y", "n": 0}], key=str
    )
