"""KeyedRewriter behaviour over every implementation: many small upserts keep rows, history and cost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.adapters.capabilities import incremental_for
from pipelines.adapters.delta import DeltaTableStore
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.adapters.iceberg.compat import MERGE_MANIFESTS_AT
from pipelines.core.names import TableId
from pipelines.ports.commit_check import ConcurrentCommitError
from pipelines.ports.table_store import TableStore

TABLE = TableId("shop", "silver_carts")
SCHEMA = pa.schema([pa.field("cart_id", pa.string(), nullable=False), pa.field("items", pa.int64())])
RUNS = 40


def _rows(keys: list[str], items: int) -> pa.Table:
    return pa.table({"cart_id": keys, "items": [items] * len(keys)}, schema=SCHEMA)


def _upsert_runs(store: TableStore, runs: int = RUNS) -> list[int]:
    """Run i adds cart i and sets every earlier cart's items to i; returns each run's version."""
    store.ensure_table(TABLE, SCHEMA)
    rewriter = incremental_for(store)
    versions = []
    for i in range(runs):
        keys = [f"c{j:03d}" for j in range(i + 1)]

        def rows_of(_current: pa.Table, k: list[str] = keys, i: int = i) -> pa.Table:
            return _rows(k, i)

        done = rewriter.replace_keys(TABLE, "cart_id", pa.array(keys), rows_of)
        assert done.commit is not None and done.rows_written == i + 1
        versions.append(done.commit.version)
    return versions


def _read(store: TableStore, as_of: int | None = None) -> list[dict[str, Any]]:
    return sorted(store.read(TABLE, as_of=as_of).to_pylist(), key=lambda r: r["cart_id"])


def test_many_small_upserts_keep_the_newest_rows_and_every_version(table_store: TableStore) -> None:
    versions = _upsert_runs(table_store)
    assert _read(table_store) == [{"cart_id": f"c{j:03d}", "items": RUNS - 1} for j in range(RUNS)]
    assert _read(table_store, as_of=versions[2]) == [{"cart_id": f"c{j:03d}", "items": 2} for j in range(3)]
    assert [c.version for c in table_store.history(TABLE)][-RUNS:] == versions


def test_iceberg_upserts_merge_manifests_so_planning_does_not_grow_with_history(tmp_path: Path) -> None:
    store = IcebergTableStore(tmp_path / "warehouse")
    _upsert_runs(store)
    ice = store._load(TABLE)
    snapshot = ice.current_snapshot()
    assert snapshot is not None
    manifests = snapshot.manifests(ice.io)
    assert len(ice.metadata.snapshots) == RUNS
    assert len(manifests) <= MERGE_MANIFESTS_AT  # one manifest per commit would be 40 reads per scan plan
    listed = 0
    for m in manifests:
        assert m.added_files_count is not None and m.existing_files_count is not None
        listed += m.added_files_count + m.existing_files_count
    assert listed == len(list(ice.scan().plan_files()))


def test_changes_since_a_version_are_the_rows_rewritten_as_they_were_and_as_they_are(table_store: TableStore) -> None:
    versions = _upsert_runs(table_store, runs=5)
    changes = incremental_for(table_store).read_changed(TABLE, versions[2])
    assert changes.incremental and changes.version == versions[-1]
    assert sorted(changes.removed.to_pylist(), key=str) == _rows([f"c{j:03d}" for j in range(3)], 2).to_pylist()
    assert sorted(changes.added.to_pylist(), key=str) == _rows([f"c{j:03d}" for j in range(5)], 4).to_pylist()
    assert changes.rows_scanned >= 8

    unchanged = incremental_for(table_store).read_changed(TABLE, versions[-1])
    assert (unchanged.removed.num_rows, unchanged.added.num_rows, unchanged.incremental) == (0, 0, True)
    assert not incremental_for(table_store).read_changed(TABLE, 12345).incremental


def test_rows_by_ranges_of_a_column(table_store: TableStore) -> None:
    _upsert_runs(table_store, runs=5)
    ranged = incremental_for(table_store).read_ranges(TABLE, "cart_id", [("c001", "c003"), ("c004", "c005")])
    assert sorted(r["cart_id"] for r in ranged.data.to_pylist()) == ["c001", "c002", "c004"]
    assert ranged.rows_scanned >= 3


def test_upserts_that_may_merge_on_read_give_the_same_rows_versions_and_net_changes(table_store: TableStore) -> None:
    """Few rows of a file change per run: Iceberg deletes them by position, the others rewrite; same answers."""
    table_store.ensure_table(TABLE, SCHEMA)
    rewriter = incremental_for(table_store)
    everything = [f"c{j:03d}" for j in range(200)]
    rewriter.replace_keys(TABLE, "cart_id", None, lambda _current: _rows(everything, 0))
    versions, expected = [], dict.fromkeys(everything, 0)
    for run in range(1, 6):
        keys = [f"c{j:03d}" for j in (run, run + 50, 150)] + [f"n{run}"]  # one key again every run, one new
        seen: list[list[dict[str, Any]]] = []

        def replace(
            current: pa.Table, keys: list[str] = keys, run: int = run, seen: list[list[dict[str, Any]]] = seen
        ) -> pa.Table:
            seen.append(sorted(current.to_pylist(), key=lambda r: r["cart_id"]))
            return _rows(keys, run)

        done = rewriter.replace_keys(TABLE, "cart_id", pa.array(keys), replace, merge_on_read=True)
        assert seen[0] == sorted(({"cart_id": k, "items": expected[k]} for k in keys if k in expected), key=str)
        expected |= dict.fromkeys(keys, run)
        assert done.commit is not None and done.table_rows in (None, len(expected))
        versions.append(done.commit.version)

    assert {r["cart_id"]: r["items"] for r in table_store.read(TABLE).to_pylist()} == expected
    assert len(table_store.read(TABLE)) == len(expected)  # no old row left beside its replacement
    assert _read(table_store, as_of=versions[0]) == sorted(
        ({"cart_id": k, "items": 1 if k in ("c001", "c051", "c150", "n1") else 0} for k in [*everything, "n1"]),
        key=lambda r: r["cart_id"],
    )
    changes = incremental_for(table_store).read_changed(TABLE, versions[0])
    removed = {(r["cart_id"], r["items"]) for r in changes.removed.to_pylist()}
    added = {(r["cart_id"], r["items"]) for r in changes.added.to_pylist()}
    assert added - removed == {(k, v) for k, v in expected.items() if v > 1}
    assert removed - added == {("c150", 1), *((f"c{j:03d}", 0) for j in [*range(2, 6), *range(52, 56)])}


UNKEYED = TableId("shop", "silver_baskets")
NULLABLE = pa.schema([pa.field("cart_id", pa.string()), pa.field("items", pa.int64())])


@pytest.mark.parametrize("merge_on_read", [False, True], ids=["copy-on-write", "merge-on-read"])
def test_a_null_key_is_one_key_whose_row_is_found_whatever_the_other_keys(
    table_store: TableStore, merge_on_read: bool
) -> None:
    """Key ranges (`pc.min_max`, file statistics) leave nulls out: the null key's row is replaced, never added to,
    when the other keys wanted lie outside the range of the file holding it, or when it is wanted alone."""
    table_store.ensure_table(UNKEYED, NULLABLE)
    rewriter = incremental_for(table_store)
    stored: list[str | None] = [*(f"c{j:03d}" for j in range(200)), None]
    rewriter.replace_keys(UNKEYED, "cart_id", None, lambda _current: pa.table({"cart_id": stored, "items": [0] * 201}))
    expected = dict.fromkeys(stored, 0)
    batches: tuple[list[str | None], ...] = (["n1", None], [None], ["a0", None], ["c150", None])
    for run, keys in enumerate(batches, start=1):
        seen: list[list[dict[str, Any]]] = []

        def replace(
            current: pa.Table, keys: list[str | None] = keys, run: int = run, seen: list[list[dict[str, Any]]] = seen
        ) -> pa.Table:
            seen.append(sorted(current.to_pylist(), key=str))
            return pa.table({"cart_id": keys, "items": [run] * len(keys)}, schema=NULLABLE)

        rewriter.replace_keys(UNKEYED, "cart_id", pa.array(keys), replace, merge_on_read=merge_on_read)
        assert seen[0] == sorted(({"cart_id": k, "items": expected[k]} for k in keys if k in expected), key=str)
        expected |= dict.fromkeys(keys, run)
    rows = table_store.read(UNKEYED).to_pylist()
    assert sorted(rows, key=str) == sorted(({"cart_id": k, "items": v} for k, v in expected.items()), key=str)


OPEN_FORMAT: dict[str, Callable[[Path], TableStore]] = {
    "iceberg": lambda root: IcebergTableStore(root / "warehouse"),
    "delta": DeltaTableStore,
}


@pytest.mark.parametrize("fmt", sorted(OPEN_FORMAT))
def test_a_rewrite_overtaken_while_it_planned_is_refused_not_committed_over_the_winner(
    tmp_path: Path, fmt: str
) -> None:
    store, rival = OPEN_FORMAT[fmt](tmp_path), OPEN_FORMAT[fmt](tmp_path)
    store.ensure_table(TABLE, SCHEMA)
    incremental_for(store).replace_keys(TABLE, "cart_id", pa.array(["c1"]), lambda _current: _rows(["c1"], 1))

    def overtaken(_current: pa.Table) -> pa.Table:  # another writer's rewrite of the key lands meanwhile
        incremental_for(rival).replace_keys(TABLE, "cart_id", pa.array(["c1"]), lambda _current: _rows(["c1"], 2))
        return _rows(["c1"], 3)

    with pytest.raises(ConcurrentCommitError):
        incremental_for(store).replace_keys(TABLE, "cart_id", pa.array(["c1"]), overtaken)
    assert _read(store) == [{"cart_id": "c1", "items": 2}]  # the winner's row, once
