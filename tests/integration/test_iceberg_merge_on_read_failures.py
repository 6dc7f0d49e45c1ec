"""A merge-on-read upsert whose commit fails leaves the table as it was; running it again applies it once."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException

from pipelines.adapters.capabilities import incremental_for
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.core.names import TableId
from pipelines.ports import incremental

TABLE = TableId("shop", "silver_carts")
SCHEMA = pa.schema([pa.field("cart_id", pa.string(), nullable=False), pa.field("items", pa.int64())])


def _rows(ids: range | list[int], items: int) -> pa.Table:
    return pa.table({"cart_id": [f"c{i:05d}" for i in ids], "items": [items] * len(ids)}, schema=SCHEMA)


def test_a_failed_commit_changes_nothing_and_the_retry_applies_the_update_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "ROWS_PER_FILE", 100)
    store = IcebergTableStore(tmp_path / "warehouse")
    store.ensure_table(TABLE, SCHEMA)
    rewriter = incremental_for(store)
    rewriter.replace_keys(TABLE, "cart_id", None, lambda _current: _rows(range(1000), 0))
    before, history = store.read(TABLE).sort_by("cart_id"), store.history(TABLE)
    keys = pa.array(["c00150", "c00720"])

    def refuse(*_args: object, **_kwargs: object) -> NoReturn:
        raise CommitFailedException("the catalog refused the commit")

    with monkeypatch.context() as patch:
        patch.setattr(SqlCatalog, "commit_table", refuse)
        with pytest.raises(CommitFailedException):
            rewriter.replace_keys(TABLE, "cart_id", keys, lambda _c: _rows([150, 720], 5), merge_on_read=True)

    assert store.history(TABLE) == history and store.read(TABLE).sort_by("cart_id").equals(before)
    done = rewriter.replace_keys(TABLE, "cart_id", keys, lambda _c: _rows([150, 720], 5), merge_on_read=True)
    assert done.files_merged_on_read == 2
    items = {r["cart_id"]: r["items"] for r in store.read(TABLE).to_pylist()}
    assert len(store.read(TABLE)) == 1000 and items["c00150"] == items["c00720"] == 5 and sum(items.values()) == 10
