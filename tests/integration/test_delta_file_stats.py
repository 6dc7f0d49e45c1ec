"""Delta `stats` of a data file from its Parquet footer: what data skipping may trust."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.adapters.delta.file_stats import footer_stats

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("at", pa.timestamp("us", tz="UTC")),
        pa.field("day", pa.date32()),
        pa.field("note", pa.string()),
        pa.field("amount", pa.float64()),
        pa.field("tags", pa.list_(pa.string())),
    ]
)


def stats_of(path: Path, *groups: dict[str, Any]) -> dict[str, Any]:
    """Write each of `groups` as a row group of one Parquet file and return its footer's Delta stats."""
    footers: list[pq.FileMetaData] = []
    with pq.ParquetWriter(path, SCHEMA, metadata_collector=footers) as writer:
        for group in groups:
            writer.write_table(pa.table(group, schema=SCHEMA))
    result: dict[str, Any] = json.loads(footer_stats(footers[0], SCHEMA))
    return result


def test_bounds_and_null_counts_span_every_row_group(tmp_path: Path) -> None:
    first = {
        "id": [5, 3],
        "at": [datetime(2024, 3, 2, 10, 0, 0, 123456, tzinfo=UTC), None],
        "day": [date(2024, 3, 2), None],
        "note": [None, None],  # no value in this group: no bounds from it
        "amount": [1.5, 2.5],
        "tags": [["a"], None],
    }
    second = {
        "id": [9],
        "at": [datetime(2024, 3, 1, tzinfo=UTC)],
        "day": [date(2024, 3, 1)],
        "note": ["b"],
        "amount": [None],
        "tags": [[]],
    }

    stats = stats_of(tmp_path / "f.parquet", first, second)

    assert stats == {
        "numRecords": 3,
        "minValues": {"id": 3, "at": "2024-03-01T00:00:00.000Z", "day": "2024-03-01", "note": "b"},
        "maxValues": {"id": 9, "at": "2024-03-02T10:00:00.123Z", "day": "2024-03-02", "note": "b"},
        "nullCount": {"id": 0, "at": 1, "day": 1, "note": 2, "amount": 1},
    }


def test_a_filter_in_the_last_millisecond_of_a_file_still_finds_its_rows(tmp_path: Path) -> None:
    """Delta stats keep milliseconds, cut as the protocol says (.123456 is written .123): readers widen a
    maximum by the millisecond cut off, so the file written through the bronze path is still read."""
    from deltalake import DeltaTable

    from pipelines.adapters.delta.table_store import DeltaTableStore
    from pipelines.core.names import TableId

    table = TableId("orders", "bronze_stats")
    store = DeltaTableStore(tmp_path)
    late = datetime(2024, 3, 2, 10, 0, 0, 123456, tzinfo=UTC)
    rows = pa.table({"id": [1, 2], "at": [datetime(2024, 3, 2, tzinfo=UTC), late]})
    store.ensure_table(table, rows.schema, [])
    store.append_batches(table, [rows], dict)

    delta = DeltaTable(str(store.location(table)))
    after = datetime(2024, 3, 2, 10, 0, 0, 123400, tzinfo=UTC)
    found = delta.to_pyarrow_table(filters=[("at", ">", after)])

    assert found.column("id").to_pylist() == [2]
    maximum = delta.get_add_actions(flatten=True).column("max.at")[0].as_py()
    assert maximum == datetime(2024, 3, 2, 10, 0, 0, 123000, tzinfo=UTC)


def test_a_value_too_long_for_the_footer_gives_no_bounds_rather_than_wrong_ones(tmp_path: Path) -> None:
    short = {"id": [1], "at": [None], "day": [None], "note": ["b"], "amount": [None], "tags": [None]}
    long = {"id": [2], "at": [None], "day": [None], "note": ["z" * 10_000], "amount": [None], "tags": [None]}

    stats = stats_of(tmp_path / "f.parquet", short, long)

    assert "note" not in stats["minValues"] and "note" not in stats["maxValues"]
    assert stats["nullCount"]["note"] == 0
    assert (stats["minValues"]["id"], stats["maxValues"]["id"]) == (1, 2)
