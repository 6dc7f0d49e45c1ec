"""`TableStore.append_batches` in every implementation: many batches, one commit, properties known at the end."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.adapters import partition_files
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.adapters.iceberg.compat import MERGE_MANIFESTS_AT
from pipelines.adapters.table_stores import open_table_store
from pipelines.core.names import TableId
from pipelines.ports.table_store import PartitionField, Selection, TableStore
from tests.contract.test_table_store import BAD_WRITES, ORDERS, SCHEMA, order_ids, positions, rows, sorted_rows

DAILY = TableId("orders", "daily")
PARTITIONINGS = {
    "unpartitioned": [],
    "day and customer": [PartitionField("placed_at", "day"), PartitionField("customer")],
    "month": [PartitionField("placed_at", "month")],
    "identity order id": [PartitionField("order_id")],
    "identity timestamp": [PartitionField("placed_at")],  # Delta: not a partition value it writes itself
}


@pytest.fixture
def orders(table_store: TableStore) -> TableStore:
    table_store.ensure_table(ORDERS, SCHEMA)
    return table_store


@pytest.mark.parametrize("partitioning", sorted(PARTITIONINGS))
def test_batches_land_in_one_commit_whose_properties_are_asked_for_after_the_last(
    table_store: TableStore, partitioning: str
) -> None:
    table_store.ensure_table(DAILY, SCHEMA, PARTITIONINGS[partitioning])
    table_store.append(DAILY, rows(1), positions(1))
    consumed: list[int] = []

    def batches() -> Iterator[pa.Table]:
        for ids in ((2, 3), (4,), (), (5, 6, 7)):
            consumed.extend(ids)
            yield rows(*ids)

    commit = table_store.append_batches(DAILY, batches(), lambda: positions(len(consumed)))

    assert consumed == [2, 3, 4, 5, 6, 7]
    assert commit.properties == positions(6)
    assert table_store.history(DAILY)[-1] == commit
    assert len(table_store.history(DAILY)) == 2
    assert sorted_rows(table_store.read(DAILY)) == sorted_rows(rows(*range(1, 8)))
    assert order_ids(table_store.read(DAILY, as_of=table_store.history(DAILY)[0].version)) == [1]


@pytest.mark.parametrize("partitioning", sorted(PARTITIONINGS))
def test_a_selection_lands_only_the_rows_it_selects(table_store: TableStore, partitioning: str) -> None:
    table_store.ensure_table(DAILY, SCHEMA, PARTITIONINGS[partitioning])
    batches = [
        Selection(rows(1, 2, 3, 4), pa.array([0, 2, 3], pa.int64())),
        rows(5),
        Selection(rows(6, 7), pa.array([], pa.int64())),
        Selection(pa.concat_tables([rows(8), rows(9, 10)]), pa.array([1, 2], pa.int64())),  # across chunks
    ]

    table_store.append_batches(DAILY, iter(batches), lambda: positions(1))

    assert sorted_rows(table_store.read(DAILY)) == sorted_rows(rows(1, 3, 4, 5, 9, 10))


def test_no_batch_still_commits_the_properties(orders: TableStore) -> None:
    commit = orders.append_batches(ORDERS, iter([]), lambda: positions(4))

    assert orders.history(ORDERS) == [commit]
    assert commit.properties == positions(4)
    assert orders.read(ORDERS).num_rows == 0


@pytest.mark.parametrize("case", sorted(BAD_WRITES))
def test_a_refused_batch_commits_nothing_and_leaves_no_file(orders: TableStore, tmp_path: Path, case: str) -> None:
    make_data, column = BAD_WRITES[case]
    orders.append(ORDERS, rows(1), positions(1))
    history, files = orders.history(ORDERS), sorted(tmp_path.rglob("*.parquet"))

    with pytest.raises(ValueError, match=rf"(?s){ORDERS}.*{column}"):
        orders.append_batches(ORDERS, iter([rows(2, 3), make_data(), rows(4)]), lambda: positions(2))

    assert orders.history(ORDERS) == history
    assert order_ids(orders.read(ORDERS)) == [1]
    assert sorted(tmp_path.rglob("*.parquet")) == files


def test_a_failing_producer_commits_nothing(orders: TableStore) -> None:
    def batches() -> Iterator[pa.Table]:
        yield rows(2)
        raise RuntimeError("source gone")

    with pytest.raises(RuntimeError, match="source gone"):
        orders.append_batches(ORDERS, batches(), lambda: positions(1))

    assert orders.history(ORDERS) == []
    assert orders.read(ORDERS).num_rows == 0


def test_properties_that_do_not_fit_commit_nothing(orders: TableStore) -> None:
    bad: Any = {"run_id": "x"}
    with pytest.raises(ValueError, match="meshlake"):
        orders.append_batches(ORDERS, iter([rows(1)]), lambda: bad)
    assert orders.history(ORDERS) == []


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_day_partitions_match_those_of_a_plain_append(tmp_path: Path, fmt: str) -> None:
    store = open_table_store(fmt, tmp_path / "batches")
    plain = open_table_store(fmt, tmp_path / "plain")
    for s in (store, plain):
        s.ensure_table(ORDERS, SCHEMA, [PartitionField("placed_at", "day")])
    store.append_batches(ORDERS, iter([rows(1, 2), rows(2, 3)]), lambda: positions(1))
    plain.append(ORDERS, pa.concat_tables([rows(1, 2), rows(2, 3)]), positions(1))

    def partitions(root: Path) -> list[str]:
        return sorted({p.parent.name for p in root.rglob("*.parquet")})

    assert partitions(tmp_path / "batches") == partitions(tmp_path / "plain")
    if fmt == "delta":
        assert partitions(tmp_path / "batches") == [f"_part_placed_at_day={date(2024, 3, d)}" for d in (1, 2, 3)]
    assert sorted_rows(store.read(ORDERS)) == sorted_rows(plain.read(ORDERS))


def test_partition_values_with_any_characters_read_back(table_store: TableStore) -> None:
    by_customer = TableId("orders", "by_customer")
    table_store.ensure_table(by_customer, SCHEMA, [PartitionField("customer")])
    data = rows(1, 2, 3, 4).set_column(2, "customer", pa.array(["a b/c%=", "ü?#", None, "plain"]))

    table_store.append_batches(by_customer, iter([data.slice(0, 2), data.slice(2)]), lambda: positions(1))

    assert sorted_rows(table_store.read(by_customer)) == sorted_rows(data)


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_partition_gets_one_file_however_many_batches_hold_its_rows(tmp_path: Path, fmt: str) -> None:
    store = open_table_store(fmt, tmp_path)
    store.ensure_table(ORDERS, SCHEMA, [PartitionField("placed_at", "day")])

    store.append_batches(ORDERS, iter([rows(1, 2), rows(2, 1), rows(2)]), lambda: positions(1))

    files = sorted(tmp_path.rglob("*.parquet"))
    assert len(files) == 2
    assert len({f.parent for f in files}) == 2
    assert sorted_rows(store.read(ORDERS)) == sorted_rows(rows(1, 1, 2, 2, 2))


def test_partitions_past_the_open_file_limit_land_once(
    table_store: TableStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partition_files, "MAX_OPEN_FILES", 2)
    by_order = TableId("orders", "by_order")
    table_store.ensure_table(by_order, SCHEMA, [PartitionField("order_id")])
    batches = [rows(1, 2, 3, 4, 5), rows(6, 1), rows(7, 8, 2), rows(3)]

    table_store.append_batches(by_order, iter(batches), lambda: positions(1))

    assert sorted_rows(table_store.read(by_order)) == sorted_rows(pa.concat_tables(batches))


def test_iceberg_bronze_commits_merge_manifests_so_planning_does_not_grow_with_history(tmp_path: Path) -> None:
    store = IcebergTableStore(tmp_path / "warehouse")
    store.ensure_table(ORDERS, SCHEMA, [PartitionField("placed_at", "day")])
    days = range(1, 21)

    for day in days:
        store.append_batches(ORDERS, iter([rows(day)]), functools.partial(positions, day))

    ice = store._load(ORDERS)
    snapshot = ice.current_snapshot()
    assert snapshot is not None
    assert len(snapshot.manifests(ice.io)) <= MERGE_MANIFESTS_AT  # one per commit would be 20 reads per plan
    assert order_ids(store.read(ORDERS)) == list(days)
