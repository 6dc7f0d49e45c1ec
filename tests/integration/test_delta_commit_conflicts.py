"""Pins the deltalake behaviour the Delta store's commit loop relies on (it uses no private deltalake API).

`DeltaTableStore._commit_with_retries` commits a checked write once, on the version its check saw,
with `CommitProperties(max_commit_retries=0)`: when another writer took the next version, delta-rs
must refuse with `CommitFailedError` and write nothing, not resolve the race itself (for appends it
would commit on top, which is how two writers duplicated every event). Maintenance commits the same
way: a compaction that resolved the race itself kept the properties it had read, an older watermark.
The store's history labels each log entry itself: delta-rs numbers them from the version the table
object was opened at, whatever the log holds when it is read.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import RemoveAction

from pipelines.adapters.delta import DeltaTableStore
from pipelines.core.names import TableId


def test_a_single_attempt_commit_on_a_taken_version_fails_and_writes_nothing(tmp_path: Path) -> None:
    DeltaTable.create(str(tmp_path), pa.schema([pa.field("n", pa.int64())]))
    mine, theirs = DeltaTable(str(tmp_path)), DeltaTable(str(tmp_path))
    write_deltalake(theirs, pa.table({"n": [1]}), mode="append")
    with pytest.raises(CommitFailedError):
        write_deltalake(
            mine, pa.table({"n": [2]}), mode="append", commit_properties=CommitProperties(max_commit_retries=0)
        )
    current = DeltaTable(str(tmp_path))
    assert current.version() == 1
    assert current.to_pyarrow_table().column("n").to_pylist() == [1]


def test_a_single_attempt_transaction_of_prepared_actions_on_a_taken_version_fails_and_writes_nothing(
    tmp_path: Path,
) -> None:  # how compaction (and streamed appends, keyed rewrites) commit
    DeltaTable.create(str(tmp_path), pa.schema([pa.field("n", pa.int64())]))
    write_deltalake(str(tmp_path), pa.table({"n": [0]}), mode="append")
    mine = DeltaTable(str(tmp_path))
    gone = pa.table(mine.get_add_actions(flatten=True)).to_pylist()[0]
    write_deltalake(str(tmp_path), pa.table({"n": [1]}), mode="append")
    remove = RemoveAction(gone["path"], False, 0, gone["size_bytes"], {})
    with pytest.raises(CommitFailedError):
        mine.create_write_transaction(
            [remove], mode="append", schema=mine.schema(), commit_properties=CommitProperties(max_commit_retries=0)
        )
    assert DeltaTable(str(tmp_path)).version() == 2


def test_optimize_resolves_a_race_itself_so_compaction_does_not_use_it(tmp_path: Path) -> None:
    DeltaTable.create(str(tmp_path), pa.schema([pa.field("n", pa.int64())]))
    for n in range(3):
        write_deltalake(str(tmp_path), pa.table({"n": [n]}), mode="append")
    mine = DeltaTable(str(tmp_path))
    write_deltalake(str(tmp_path), pa.table({"n": [3]}), mode="append", commit_properties=CommitProperties({"w": "4"}))

    mine.optimize.compact(commit_properties=CommitProperties({"w": "3"}, max_commit_retries=0))

    assert [e.get("w") for e in DeltaTable(str(tmp_path)).history(2)] == ["3", "4"]  # the older one on top


def test_history_of_a_table_opened_before_a_commit_names_each_commit_by_its_own_version(tmp_path: Path) -> None:
    table = TableId("shop", "rows")
    store = DeltaTableStore(tmp_path)
    store.ensure_table(table, pa.schema([pa.field("n", pa.int64())]))
    store.append(table, pa.table({"n": [0]}), {"meshlake.upstream": "0"})
    opened = DeltaTable(str(tmp_path / "shop" / "rows"))
    newer = store.append(table, pa.table({"n": [1]}), {"meshlake.upstream": "1"})

    assert opened.history()[0]["version"] == 1  # delta-rs: the newest entry takes the opened table's version
    assert opened.history()[0]["meshlake.upstream"] == "1"
    commits = store._history(opened)  # the store reads the tables it opened through it: as they were opened
    assert [(c.version, c.properties["meshlake.upstream"]) for c in commits] == [(1, "0")]
    assert [(c.version, c.properties["meshlake.upstream"]) for c in store.history(table)] == [(1, "0"), (2, "1")]
    assert newer.version == 2
