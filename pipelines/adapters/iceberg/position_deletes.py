"""Iceberg position deletes: the rows of a data file a merge-on-read update removed, by position.

A position-delete file is a Parquet file of (`file_path`, `pos`) pairs, sorted, with the field ids the
Iceberg spec reserves for them. Readers (pyiceberg, DuckDB, Spark) drop those rows of those files.
pyiceberg 0.12 reads them but writes none; this module writes them and reads them back for the
adapter's own fast paths (which then never fall back to pyiceberg's slower scan).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.conversions import to_bytes
from pyiceberg.io import FileIO
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.types import LongType, StringType

PATH_FIELD_ID, POS_FIELD_ID = 2147483546, 2147483545
"""The reserved field ids of `file_path` and `pos` in position-delete files (Iceberg spec)."""

DELETE_SCHEMA = pa.schema(
    [
        pa.field("file_path", pa.string(), nullable=False, metadata={b"PARQUET:field_id": str(PATH_FIELD_ID)}),
        pa.field("pos", pa.int64(), nullable=False, metadata={b"PARQUET:field_id": str(POS_FIELD_ID)}),
    ]
)


def delete_files(snapshot: Snapshot | None, count: str = "total-delete-files") -> int:
    """A count of delete files from a snapshot's summary: those of its table by default (0 without one)."""
    summary = snapshot.summary if snapshot else None
    return int((summary.get(count) if summary else None) or 0)


def has_only_position_deletes(task: FileScanTask) -> bool:
    """Whether every delete file of `task` is a Parquet position-delete file (which this module reads)."""
    return all(
        d.content == DataFileContent.POSITION_DELETES and d.file_format == FileFormat.PARQUET for d in task.delete_files
    )


@functools.lru_cache(maxsize=256)
def _positions_by_path(io: FileIO, path: str) -> Mapping[str, np.ndarray]:
    """The positions a delete file removes, per data file path (files are immutable: cached by path)."""
    with io.new_input(path).open() as stream:
        table = pq.read_table(stream, columns=["file_path", "pos"])
    paths = table.column("file_path").combine_chunks().dictionary_encode()
    positions = table.column("pos").to_numpy()
    return {
        name: positions[np.asarray(pc.equal(paths.indices, i).to_numpy(zero_copy_only=False))]
        for i, name in enumerate(paths.dictionary.to_pylist())
    }


def deleted_positions(io: FileIO, task: FileScanTask) -> np.ndarray:
    """The sorted positions of `task`'s data file that its position-delete files remove."""
    found = [_positions_by_path(io, d.file_path).get(task.file.file_path) for d in task.delete_files]
    parts = [p for p in found if p is not None and len(p)]
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)


def live_mask(rows: int, deleted: np.ndarray) -> pa.Array:
    """True for each of a file's `rows` positions that is not in `deleted`."""
    mask = np.ones(rows, dtype=bool)
    mask[deleted] = False
    return pa.array(mask)


def write_position_deletes(ice: Table, deletes: Iterable[tuple[DataFile, np.ndarray]]) -> list[DataFile]:
    """Position-delete files removing `positions` of each data file: one file per partition, not committed.

    The files carry `file_path` bounds, so readers open them only for the data files they name.
    """
    groups: dict[tuple[int, str], list[tuple[DataFile, np.ndarray]]] = {}
    for data_file, positions in deletes:
        if len(positions):
            groups.setdefault((data_file.spec_id, repr(data_file.partition)), []).append((data_file, positions))
    written = []
    for files in groups.values():
        files.sort(key=lambda f: f[0].file_path)
        paths = pa.array([f.file_path for f, p in files for _ in range(len(p))], pa.string())
        positions = pa.array(np.concatenate([np.sort(p) for _, p in files]).astype(np.int64))
        rows = pa.Table.from_arrays([paths, positions], schema=DELETE_SCHEMA)
        location = ice.location_provider().new_data_location(f"{uuid.uuid4()}-deletes.parquet")
        output = ice.io.new_output(location)
        with output.create(overwrite=True) as stream:
            pq.write_table(rows, stream, compression="zstd")
        first, last = files[0][0].file_path, files[-1][0].file_path
        low, high = (int(v.as_py()) for v in pc.min_max(positions).values())
        written.append(
            DataFile.from_args(
                content=DataFileContent.POSITION_DELETES,
                file_path=location,
                file_format=FileFormat.PARQUET,
                partition=files[0][0].partition,
                record_count=rows.num_rows,
                file_size_in_bytes=len(output),
                value_counts={PATH_FIELD_ID: rows.num_rows, POS_FIELD_ID: rows.num_rows},
                null_value_counts={PATH_FIELD_ID: 0, POS_FIELD_ID: 0},
                lower_bounds={PATH_FIELD_ID: to_bytes(StringType(), first), POS_FIELD_ID: to_bytes(LongType(), low)},
                upper_bounds={
                    PATH_FIELD_ID: to_bytes(StringType(), last),
                    POS_FIELD_ID: to_bytes(LongType(), high),
                },
                sort_order_id=None,
                spec_id=files[0][0].spec_id,
                equality_ids=None,
                key_metadata=None,
            )
        )
    return written
