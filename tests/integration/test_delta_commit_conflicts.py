"""Pins the deltalake behaviour the Delta store's commit loop relies on (it uses no private deltalake API).

`DeltaTableStore._commit_with_retries` commits a checked write once, on the version its check saw,
with `CommitProperties(max_commit_retries=0)`: when another writer took the next version, delta-rs
must refuse with `CommitFailedError` and write nothing, not resolve the race itself (for appends it
would commit on top, which is how two writers duplicated every event).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError


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
