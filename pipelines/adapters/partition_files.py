"""One commit's data files: a file per partition, kept open across batches, written by a small thread pool.

`append_batches` of the Iceberg and Delta stores writes its batches through `write_partitioned`; the
format decides how a file is opened, written and closed (`PartitionFile`).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

import pyarrow as pa

from pipelines.ports.table_store import PartitionRows, write_behind

WRITE_THREADS = max(1, (os.cpu_count() or 2) - 1)
"""Partitions gathered and written at once: every core but the one the producer (the decoder) uses.
pyarrow's take and Parquet writer release the GIL, so the writers run in parallel. On 2 cores that
is one writer: a second one showed no measurable speed-up (the decoder's thread is the bottleneck)
and cost ~45 MB more peak RSS at 1M events (benchmarks: ingest)."""

MAX_OPEN_FILES = 64
"""Files kept open between batches. Once that many are open, a new partition's rows (e.g. identity
of a high-cardinality column) go to a file of their own, closed at once, and the open files that
batch did not write to are closed to make room."""


class PartitionFile(Protocol):
    """A data file of one partition being written."""

    def write(self, rows: pa.Table) -> None:
        """Append `rows` (rows of this file's partition, in the table's schema)."""
        ...

    def close(self) -> None:
        """Finish the file (footer, statistics); once closed, it is complete."""
        ...


_File = TypeVar("_File", bound=PartitionFile)
Split = Callable[[pa.Table], list[PartitionRows]]
"""A batch split by partition (see `partition_rows`)."""


def write_partitioned(
    batches: Iterable[pa.Table], split: Split, open_file: Callable[[dict[str, Any]], _File]
) -> list[_File]:
    """Write the rows of every batch into one file per partition; return the files, all closed.

    Each batch is split on a write-behind thread while the caller's thread produces the next one
    (`write_behind`), and its partitions are gathered and written in parallel on `WRITE_THREADS`
    threads. A partition seen in an earlier batch adds row groups to the file it already has, so a commit of
    many batches has about one file per partition rather than one per partition and batch: fewer,
    larger files, less per-file work (footers, statistics, manifest entries).

    On an error the files opened so far are closed as far as they can be and the error propagates;
    the caller, which knows what `open_file` created, removes them.
    """
    opened: dict[tuple[Any, ...], _File] = {}
    closed: list[_File] = []
    with ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="meshlake-partition") as pool:

        def run(calls: list[Callable[[], None]]) -> None:
            futures = [pool.submit(call) for call in calls]
            wait(futures)  # every write done before an error propagates and its files are removed
            for future in futures:
                future.result()

        def write(batch: pa.Table) -> None:
            parts = split(batch)
            del batch  # the only reference (see `write_behind`): the parts hold it until written
            calls: list[Callable[[], None]] = []
            for part in parts:
                key = tuple(part.values.items())
                file = opened.get(key)
                if file is None and len(opened) < MAX_OPEN_FILES:
                    file = opened[key] = open_file(part.values)
                if file is None:
                    closed.append(file := open_file(part.values))
                    calls.append(functools.partial(_write, file, part, close=True))
                else:
                    calls.append(functools.partial(_write, file, part, close=False))
            written = {tuple(part.values.items()) for part in parts}
            if len(opened) == MAX_OPEN_FILES:  # make room: close what this batch did not write to
                for key in [k for k in opened if k not in written]:
                    closed.append(stale := opened.pop(key))
                    calls.append(stale.close)
            del parts
            run(calls)

        try:
            write_behind(batches, write)
            run([file.close for file in opened.values()])
        except BaseException:
            for file in [*opened.values(), *closed]:
                with contextlib.suppress(Exception):
                    file.close()
            raise
    return [*closed, *opened.values()]


def _write(file: PartitionFile, part: PartitionRows, close: bool) -> None:
    file.write(part.take())
    if close:
        file.close()
