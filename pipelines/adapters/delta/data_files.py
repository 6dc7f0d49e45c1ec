"""The Delta data files `append_batches` writes: Parquet under Hive-style partition folders, and their add actions."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake.transaction import AddAction

from pipelines.adapters.delta.file_stats import footer_stats
from pipelines.adapters.parquet_encodings import column_encodings
from pipelines.adapters.storage import Location
from pipelines.ports.table_store import PARQUET_DICTIONARY_BYTES, ROW_GROUP_ROWS

NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


class DeltaDataFile:
    """A data file of one partition: the rows without the partition columns; `action` is set once closed.

    Its path is `<column>=<value>/.../part-<uuid>-c000.zstd.parquet` under the table root, values
    URI-encoded as delta-rs writes them in the log. The add action's stats come from the footer.
    """

    def __init__(self, root: Location, values: dict[str, str | None], partition_columns: Sequence[str]) -> None:
        folder = "/".join(f"{c}={quote(v, safe='') if v is not None else NULL_PARTITION}" for c, v in values.items())
        self.name = (f"{folder}/" if folder else "") + f"part-{uuid.uuid4()}-c000.zstd.parquet"
        self.uri = root.child_uri(self.name)
        self._root = root
        self._values, self._partition_columns = values, partition_columns
        self._writer: pq.ParquetWriter | None = None
        self._sink: pa.NativeFile | None = None
        self._schema = pa.schema([])
        self._footers: list[pq.FileMetaData] = []
        self.action: AddAction | None = None

    def write(self, rows: pa.Table) -> None:
        data = rows.drop_columns([c for c in self._partition_columns if c in rows.column_names])
        if self._writer is None:
            self._schema = data.schema
            self._sink = self._root.open_output(self.uri)
            self._writer = pq.ParquetWriter(
                self._sink,
                data.schema,
                compression="zstd",
                dictionary_pagesize_limit=PARQUET_DICTIONARY_BYTES,
                metadata_collector=self._footers,
                **column_encodings(data.schema),
            )
        self._writer.write_table(data, row_group_size=ROW_GROUP_ROWS)

    def close(self) -> None:
        if self._writer is None or self.action is not None:
            return
        self._writer.close()
        assert self._sink is not None, "opened with the writer"
        size = self._sink.tell()
        self._sink.close()  # an object store's upload completes here
        stats = footer_stats(self._footers[0], self._schema)
        now = time.time_ns() // 1_000_000
        self.action = AddAction(self.name, size, self._values, now, True, stats)


def write_data_file(root: Location, rows: pa.Table) -> AddAction:
    """`rows` as one data file of an unpartitioned table under `root`, written as `append_batches` writes them
    (`DeltaDataFile`: dictionaries given up at `PARQUET_DICTIONARY_BYTES`, stats from the footer), and its add action.

    Keyed rewrites write their files this way: with pyarrow's defaults, the unique keys and versions of a
    1M-row silver table were dictionary-encoded in full and their stats computed again from the rows.
    """
    data_file = DeltaDataFile(root, {}, [])
    data_file.write(rows)
    data_file.close()
    assert data_file.action is not None, "set by close"
    return data_file.action
