"""How a keyed rewrite cuts rows into files: what later rewrites of the same keys pay for."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipelines.core.names import TableId
from pipelines.ports import incremental
from pipelines.ports.incremental import plan_rewrite

TABLE = TableId("carts", "history_cart")
SCHEMA = pa.schema([pa.field("cart_id", pa.string(), nullable=False), pa.field("version", pa.int64())])


def _rows(ids: list[int], version: int) -> pa.Table:
    return pa.table({"cart_id": [f"c{i:03d}" for i in ids], "version": [version] * len(ids)}, schema=SCHEMA)


def test_a_file_grown_just_past_the_file_size_splits_into_even_halves_not_a_full_file_and_a_sliver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SCD2 history adds a row per changed key: a full file that gains 3 rows must not leave a 3-row file,
    whose footer, statistics and manifest entry every later rewrite would pay for."""
    monkeypatch.setattr(incremental, "ROWS_PER_FILE", 8)
    touched = _rows(list(range(8)), 1)

    def new_versions(current: pa.Table) -> pa.Table:  # each changed key keeps its old row and gains a new one
        return pa.concat_tables([current, current.set_column(1, "version", pa.array([2] * current.num_rows))])

    plan = plan_rewrite(TABLE, SCHEMA, "cart_id", pa.array(["c001", "c004", "c006"]), [touched], new_versions)

    sizes = [t.num_rows for t in plan.rewritten]
    assert sum(sizes) == 11 and len(sizes) == 2 and max(sizes) - min(sizes) <= 1
    keys = [k for t in plan.rewritten for k in t.column("cart_id").to_pylist()]
    assert keys == sorted(keys)  # still key ranges


def test_new_keys_past_the_file_size_come_in_even_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(incremental, "ROWS_PER_FILE", 8)
    new = _rows(list(range(17)), 1)

    plan = plan_rewrite(TABLE, SCHEMA, "cart_id", new.column("cart_id").combine_chunks(), [], lambda _current: new)

    assert [t.num_rows for t in plan.inserted] == [6, 6, 5]
