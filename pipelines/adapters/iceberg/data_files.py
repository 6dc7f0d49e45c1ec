"""The Iceberg data files `append_batches` writes: rows split by partition, a Parquet file per partition."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from typing import Any, cast

import pyarrow as pa
from pyarrow import fs
from pyiceberg.io import FileIO, InputFile, OutputFile, OutputStream
from pyiceberg.io.pyarrow import BUFFER_SIZE
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey
from pyiceberg.table import Table, TableProperties
from pyiceberg.typedef import Record

from pipelines.adapters.iceberg import compat
from pipelines.adapters.iceberg.schema_ids import arrow_schema
from pipelines.adapters.parquet_encodings import column_encodings
from pipelines.adapters.storage import Location
from pipelines.ports.table_store import PARQUET_DICTIONARY_BYTES, ROW_GROUP_ROWS, PartitionRows, partition_rows

TARGET_FILE_SIZE = TableProperties.WRITE_TARGET_FILE_SIZE_BYTES
TARGET_FILE_SIZE_DEFAULT = TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT

WRITE_PROPERTIES = {
    TableProperties.PARQUET_ROW_GROUP_LIMIT: str(ROW_GROUP_ROWS),
    TableProperties.PARQUET_DICT_SIZE_BYTES: str(PARQUET_DICTIONARY_BYTES),
    # pyiceberg passes it to pyarrow as `write_batch_size`, the rows between two checks of the page and
    # dictionary sizes; its 20,000 lets a 64 KiB dictionary grow far past its limit (pyarrow: 1,024).
    TableProperties.PARQUET_PAGE_ROW_LIMIT: "1024",
}
"""Parquet settings of every table this store creates (a table's own properties override them)."""

OUTPUT_BUFFER_BYTES = 64 * 1024
"""Buffer of each data file's output stream. pyiceberg's default, 1 MiB, is held by every file a commit keeps
open (one per partition): ~25 MB of the peak RSS of ingesting 1M events into 29 day partitions, for no fewer
writes (the Parquet writer hands the stream whole pages; benchmarks: ingest)."""


class IcebergDataFile:
    """A data file of one partition, written with pyiceberg's Parquet writer; `data_file` is set once closed.

    The rows are written as they come, already in the table's Arrow schema (field ids on every
    field), so pyiceberg's per-batch projection is skipped; its statistics come from the footer.
    """

    def __init__(self, table: Table, output: OutputFile, partition: PartitionKey | None) -> None:
        metadata = table.metadata
        self.path = output.location
        self._output = output
        properties = {**WRITE_PROPERTIES, **metadata.properties}
        encodings = column_encodings(arrow_schema(metadata.schema()))
        self._writer = compat.parquet_writer(self._output, metadata.schema(), properties, encodings)
        self._partition = partition.partition if partition else Record()
        self._spec_id = metadata.default_spec_id
        self.data_file: DataFile | None = None

    def write(self, rows: pa.Table) -> None:
        self._writer.write(rows)

    def close(self) -> None:
        if self.data_file is not None:
            return
        statistics = self._writer.close()
        self.data_file = DataFile.from_args(
            content=DataFileContent.DATA,
            file_path=self.path,
            file_format=FileFormat.PARQUET,
            partition=self._partition,
            file_size_in_bytes=len(self._output),
            sort_order_id=None,
            spec_id=self._spec_id,
            equality_ids=None,
            key_metadata=None,
            **statistics.to_serialized_dict(),
        )


class _StoreOutput(OutputFile):
    """A data file written through the warehouse's own filesystem rather than the table's FileIO.

    On an object store pyiceberg's output stream starts a multipart upload when the file is opened (a
    round trip on the writer's thread for each partition of a commit) and completes it at close; the
    warehouse's filesystem opens lazily, so a file under the multipart size is one PUT at close.
    """

    def __init__(self, warehouse: Location, uri: str, io: FileIO) -> None:
        super().__init__(uri)
        self._warehouse, self._io = warehouse, io

    def _info(self) -> fs.FileInfo:
        with self._warehouse.errors():
            return self._warehouse.filesystem.get_file_info(self._warehouse.fs_path(self.location))

    def __len__(self) -> int:
        return int(self._info().size or 0)

    def exists(self) -> bool:
        return bool(self._info().type != fs.FileType.NotFound)

    def to_input_file(self) -> InputFile:
        return self._io.new_input(self.location)

    def create(self, overwrite: bool = False) -> OutputStream:
        if not overwrite and self.exists():
            raise FileExistsError(self.location)
        return cast(OutputStream, self._warehouse.open_output(self.location))


class IcebergDataFiles:
    """The data files of one commit to `table`: how its rows split by partition, the files opened, their removal.

    `warehouse`: write the files through this object store location's filesystem (`_StoreOutput`) rather
    than the table's FileIO; only where the store's own credentials are the table's (its SQL catalog).
    """

    def __init__(self, table: Table, warehouse: Location | None = None) -> None:
        self._table = table
        # the table's file IO with a smaller output buffer (the property is pyiceberg's FileIO setting)
        self._io = type(table.io)({**table.io.properties, BUFFER_SIZE: str(OUTPUT_BUFFER_BYTES)})
        self._warehouse = warehouse if warehouse is not None and not warehouse.is_local else None
        self._spec, self._schema = table.metadata.spec(), table.metadata.schema()
        self._locations = table.location_provider()
        write_uuid = uuid.uuid4()
        self._names = (f"00000-{n}-{write_uuid}.parquet" for n in itertools.count())
        self._paths: list[str] = []

    def split(self, rows: pa.Table, selected: pa.Array | None = None) -> list[PartitionRows]:
        """`rows` (in the table's schema; only those at `selected`) by partition: `_partition_<i>` holds
        the i-th partition field's value.

        pyiceberg's own split filters the whole batch once per partition; `partition_rows` sorts once.
        """
        if not rows.num_rows:
            return []
        keys = {}
        for i, field in enumerate(self._spec.fields):
            transform = field.transform.pyarrow_transform(self._schema.find_field(field.source_id).field_type)
            keys[f"_partition_{i}"] = transform(rows.column(self._schema.find_column_name(field.source_id)))
        return partition_rows(rows, pa.table(keys), selected)

    def open(self, values: dict[str, Any]) -> IcebergDataFile:
        """A new data file for the partition with `values` (as `split` names them)."""
        key = None
        if not self._spec.is_unpartitioned():
            fields = [PartitionFieldValue(f, values[f"_partition_{i}"]) for i, f in enumerate(self._spec.fields)]
            key = PartitionKey(fields, self._spec, self._schema)
        path = self._locations.new_data_location(next(self._names), key)
        self._paths.append(path)
        output = _StoreOutput(self._warehouse, path, self._io) if self._warehouse else self._io.new_output(path)
        return IcebergDataFile(self._table, output, key)

    def write(self, rows: pa.Table) -> list[DataFile]:
        """`rows` (of the table's columns and types) as closed data files: one per partition, split further
        past the table's target file size (in memory bytes, as pyiceberg bins them). Rows read back
        without field ids (e.g. by pyiceberg's scan) get the table's."""
        schema = arrow_schema(self._schema)
        if not rows.schema.equals(schema, check_metadata=True):
            rows = rows.cast(schema)
        target = int(self._table.metadata.properties.get(TARGET_FILE_SIZE, TARGET_FILE_SIZE_DEFAULT))
        written = []
        for part in self.split(rows):
            data = part.take()
            pieces = max(1, -(-data.nbytes // target))
            size = -(-data.num_rows // pieces)
            for at in range(0, data.num_rows, size):
                file = self.open(part.values)
                file.write(data.slice(at, size))
                file.close()
                assert file.data_file is not None
                written.append(file.data_file)
        return written

    def remove(self) -> None:
        """Delete every file opened (those never committed: a failed write)."""
        for path in self._paths:
            with contextlib.suppress(FileNotFoundError):
                self._table.io.delete(path)
