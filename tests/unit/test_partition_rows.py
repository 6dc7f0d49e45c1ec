"""A batch split by partition: each partition's rows, in batch order, whatever the batch's chunks."""

from __future__ import annotations

import pyarrow as pa

from pipelines.ports.table_store import partition_rows


def test_each_partition_gets_its_rows_in_order_from_a_batch_of_several_chunks() -> None:
    rows = pa.table({"day": [1, 2, 1, 3, 2, 1, 3, 1], "n": list(range(8))})
    batch = pa.concat_tables([rows.slice(0, 3), rows.slice(3, 4), rows.slice(7)])  # chunks of 3, 4 and 1 rows

    parts = partition_rows(batch, batch.select(["day"]))

    taken = {part.values["day"]: part.take() for part in parts}
    assert {day: t.column("n").to_pylist() for day, t in taken.items()} == {1: [0, 2, 5, 7], 2: [1, 4], 3: [3, 6]}
    assert all(t.schema == batch.schema for t in taken.values())


def test_a_batch_of_one_partition_is_written_as_it_is() -> None:
    batch = pa.table({"day": [4, 4], "n": [0, 1]})

    (part,) = partition_rows(batch, batch.select(["day"]))

    assert part.values == {"day": 4} and part.take() is batch


def test_a_selection_splits_only_its_rows_and_keeps_their_order() -> None:
    rows = pa.table({"day": [1, 2, 1, 3, 2, 1, 3, 1], "n": list(range(8))})
    batch = pa.concat_tables([rows.slice(0, 3), rows.slice(3, 4), rows.slice(7)])

    parts = partition_rows(batch, batch.select(["day"]), pa.array([0, 1, 3, 5, 7], pa.int64()))

    taken = {part.values["day"]: part.take().column("n").to_pylist() for part in parts}
    assert taken == {1: [0, 5, 7], 2: [1], 3: [3]}


def test_a_selection_of_one_partition_or_of_no_rows() -> None:
    batch = pa.table({"day": [4, 4, 4], "n": [0, 1, 2]})

    (part,) = partition_rows(batch, batch.select(["day"]), pa.array([0, 2], pa.int64()))

    assert part.values == {"day": 4} and part.take().column("n").to_pylist() == [0, 2]
    assert partition_rows(batch, batch.select(["day"]), pa.array([], pa.int64())) == []
    assert [p.take().column("n").to_pylist() for p in partition_rows(batch, batch.select([]), pa.array([1]))] == [[1]]
