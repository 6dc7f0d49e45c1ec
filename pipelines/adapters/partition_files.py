"""One commit's data files: a file per partition, kept open across batches, written by a small thread pool.

`append_batches` of the Iceberg and Delta stores writes its batches through `write_partitioned`; the
format decides how a file is opened, written and closed (`PartitionFile`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

import pyarrow as pa

from pipelines.ports.table_store import Batch, PartitionRows, write_behind

WRITE_THREADS = max(1, os.cpu_count() or 1)
"""Partitions gathered and written at once, at most: pyarrow's take and Parquet writer release the GIL,
so the writers run in parallel. While the producer (the decoder) works, one core is left to it
(`_Cores`)."""

MAX_OPEN_FILES = 64
"""Files kept open between batches. Once that many are open, a new partition's rows (e.g. identity
of a high-cardinality column) go to a file of their own, closed at once, and the open files that
batch did not write to are closed to make room."""

CLOSE_THREADS = 16
"""Files closed at once at the end of a commit. Closing writes a footer (little CPU) and, on an object
store, uploads the whole file: a partition's file seldom reaches the stream's multipart size (pyarrow's
S3 stream sends it at close), so closing 28 day files of 1M events one core-slot at a time took
0.45-0.95 s on SeaweedFS (0.02-0.07 s on a local disk), most of the gap between the two ingests."""


class PartitionFile(Protocol):
    """A data file of one partition being written."""

    def write(self, rows: pa.Table) -> None:
        """Append `rows` (rows of this file's partition, in the table's schema)."""
        ...

    def close(self) -> None:
        """Finish the file (footer, statistics); once closed, it is complete."""
        ...


_File = TypeVar("_File", bound=PartitionFile)
_Result = TypeVar("_Result")
Split = Callable[[Batch], list[PartitionRows]]
"""A batch split by partition (see `partition_rows`)."""


def write_partitioned(
    batches: Iterable[Batch],
    split: Split,
    open_file: Callable[[dict[str, Any]], _File],
    when_read: Callable[[], _Result],
) -> tuple[list[_File], _Result]:
    """Write the rows of every batch into one file per partition; return the files, all closed, and `when_read()`.

    Each batch is split on a write-behind thread while the caller's thread produces the next one
    (`write_behind`), and its partitions are gathered and written in parallel on `WRITE_THREADS`
    threads. A partition seen in an earlier batch adds row groups to the file it already has, so a commit of
    many batches has about one file per partition rather than one per partition and batch: fewer,
    larger files, less per-file work (footers, statistics, manifest entries).

    `when_read` is called once every batch is written, while the files are being closed: on an object
    store closing uploads them, and a caller's own round trips then (e.g. ingest's quarantine commit,
    made before bronze's) overlap the uploads instead of following them.

    On an error the files opened so far are closed as far as they can be and the error propagates;
    the caller, which knows what `open_file` created, removes them.
    """
    opened: dict[tuple[Any, ...], _File] = {}
    closed: list[_File] = []
    cores = _Cores(WRITE_THREADS)
    with ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="meshlake-partition") as pool:

        def run(calls: list[Callable[[], None]]) -> None:
            futures = [pool.submit(cores.run, call) for call in calls]
            wait(futures)  # every write done before an error propagates and its files are removed
            for future in futures:
                future.result()

        def write(batch: Batch) -> None:
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
            write_behind(cores.producing(batches), write)
            with ThreadPoolExecutor(CLOSE_THREADS, thread_name_prefix="meshlake-close") as closing:
                closes = [closing.submit(file.close) for file in opened.values()]
                try:
                    result = when_read()
                finally:
                    wait(closes)
                for done in closes:
                    done.result()
        except BaseException:
            for file in [*opened.values(), *closed]:
                with contextlib.suppress(Exception):
                    file.close()
            raise
    return [*closed, *opened.values()], result


class _Cores:
    """How many partition writes may run at once: every core while the producer waits for the writer
    (or is done), one fewer while it produces the next batch.

    With a fixed single writer on 2 cores, the producer waited for it ~0.35 s per 1M events and the
    last batch was written alone for ~0.2 s, each time with one core idle; with two fixed writers,
    three threads fought over two cores while the decoder ran (+0.45 CPU-s, no faster; benchmarks:
    ingest).
    """

    def __init__(self, total: int) -> None:
        self._total = total
        self._running = 0
        self._producer_busy = False
        self._changed = threading.Condition()

    def run(self, call: Callable[[], None]) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._running < max(1, self._total - self._producer_busy))
            self._running += 1
        try:
            call()
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def producing(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        """`batches`, noting while the next one is being produced."""
        iterator = iter(batches)
        while True:
            self._set_busy(True)
            try:
                batch = next(iterator, None)
            finally:
                self._set_busy(False)
            if batch is None:
                return
            yield batch
            del batch  # `write_behind` hands the writer the only reference

    def _set_busy(self, busy: bool) -> None:
        with self._changed:
            self._producer_busy = busy
            self._changed.notify_all()


def _write(file: PartitionFile, part: PartitionRows, close: bool) -> None:
    file.write(part.take())
    if close:
        file.close()
