"""`write_partitioned`: what a store's caller hands it as `when_read` runs while the files are being closed."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from pipelines.adapters.partition_files import write_partitioned
from pipelines.ports.table_store import Batch, PartitionRows, partition_rows

WAIT_S = 5.0


class _File:
    """A partition file whose close waits (boundedly) for `released`, noting whether it came."""

    def __init__(self, released: threading.Event, fail: bool = False) -> None:
        self.rows = 0
        self.closed = False
        self.saw_release: bool | None = None
        self._released, self._fail = released, fail

    def write(self, rows: pa.Table) -> None:
        self.rows += rows.num_rows

    def close(self) -> None:
        if self.closed:
            return
        self.saw_release = self._released.wait(WAIT_S)
        self.closed = True
        if self._fail:
            raise OSError("upload refused")


def _split(batch: Batch) -> list[PartitionRows]:
    assert isinstance(batch, pa.Table)
    return partition_rows(batch, batch.select(["day"]))


BATCHES = [pa.table({"day": [1, 2, 1, 3], "v": [1, 2, 3, 4]}), pa.table({"day": [3, 2], "v": [5, 6]})]


def test_when_read_runs_while_the_files_close_and_its_result_comes_back() -> None:
    released = threading.Event()
    files: list[_File] = []

    def open_file(values: dict[str, object]) -> _File:
        files.append(_File(released))
        return files[-1]

    def when_read() -> str:
        released.set()  # the closes wait for this: run after them, they would each time out first
        return "sealed"

    written, result = write_partitioned(BATCHES, _split, open_file, when_read)

    assert result == "sealed"
    assert sorted(f.rows for f in written) == [2, 2, 2]
    assert all(f.closed and f.saw_release for f in files)


def test_an_error_of_when_read_leaves_every_file_closed_and_propagates() -> None:
    released = threading.Event()
    released.set()
    files: list[_File] = []

    def open_file(values: dict[str, object]) -> _File:
        files.append(_File(released))
        return files[-1]

    def when_read() -> str:
        raise ValueError("a property does not fit")

    with pytest.raises(ValueError, match="does not fit"):
        write_partitioned(BATCHES, _split, open_file, when_read)
    assert len(files) == 3 and all(f.closed for f in files)


def test_a_failed_close_fails_the_write_even_when_when_read_succeeded() -> None:
    released = threading.Event()
    released.set()
    files: list[_File] = []

    def open_file(values: dict[str, object]) -> _File:
        files.append(_File(released, fail=not files))
        return files[-1]

    with pytest.raises(OSError, match="upload refused"):
        write_partitioned(BATCHES, _split, open_file, lambda: "sealed")
    assert all(f.closed for f in files)
