"""Incremental capabilities of Iceberg tables: read the files appended since a snapshot, rewrite by key."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.conversions import from_bytes
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFile, ManifestEntry, ManifestEntryStatus
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.snapshots import Operation, Snapshot
from pyiceberg.utils.datetime import date_to_days, datetime_to_micros

from pipelines.adapters.iceberg.compat import CachedTransaction, SnapshotProducer
from pipelines.adapters.iceberg.position_deletes import (
    delete_files,
    deleted_positions,
    has_only_position_deletes,
    live_mask,
    write_position_deletes,
)
from pipelines.adapters.iceberg.schema_ids import arrow_schema
from pipelines.adapters.iceberg.table_store import IcebergTableStore, _history
from pipelines.adapters.iceberg.transaction import commit_with_retries, file_changes, row_changes, write_rows
from pipelines.core.commits import Commit
from pipelines.core.names import TableId
from pipelines.ports.commit_check import CommitCheck, ConcurrentCommitError, refuse_all
from pipelines.ports.commit_observers import reports_commits
from pipelines.ports.incremental import (
    MAINTENANCE_PROPERTY,
    Appended,
    Changed,
    Ranged,
    Ranges,
    Replacement,
    Rewrite,
    RewritePlan,
    files_holding,
    in_ranges,
    key_bounds,
    key_hits,
    key_set,
    may_overlap,
    plan_rewrite,
)
from pipelines.ports.table_store import check_properties

UPDATE_MODE = "write.update.mode"
"""Iceberg's table property choosing how updates remove old rows; `copy-on-write` turns merge-on-read off."""

MERGE_ON_READ_SHARE = 8
"""A file where at most one live row in this many is replaced stays as it is: a position-delete file
removes those rows (merge-on-read) instead of the file being copied with them replaced. A 1% batch of
orders replaces ~0.3% of the rows of the files it touches; rewriting them was most of its cost."""

_POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="meshlake-rewrite")
"""Reads and writes of whole data files run in parallel (pyarrow releases the GIL)."""


def _scan(ice: Table, tasks: Sequence[FileScanTask], columns: Sequence[str] | None = None) -> pa.Table:
    """Read `tasks` projected on the current schema (files of older schemas are evolved on read)."""
    schema = ice.schema() if columns is None else ice.schema().select(*columns)
    wanted = arrow_schema(schema)
    if not tasks:
        return wanted.empty_table()
    direct = []
    for task in tasks:  # pyiceberg's scan costs ~10 ms a file more than a plain read
        if (table := _read_direct(ice.io, task, wanted)) is None:
            break
        direct.append(table)
    else:
        return direct[0] if len(direct) == 1 else pa.concat_tables(direct)
    data = ArrowScan(ice.metadata, ice.io, schema, AlwaysTrue()).to_table(tasks)
    return data.select(wanted.names).cast(wanted)


def _field_id(field: pa.Field) -> bytes | None:
    return (field.metadata or {}).get(b"PARQUET:field_id")


def _read_direct(io: FileIO, task: FileScanTask, wanted: pa.Schema) -> pa.Table | None:
    """A local data file written with the current field ids, without its deleted rows: read with pyarrow.

    Returns None when pyiceberg's projection is needed (other storage, an older schema, deletes other
    than by position).
    """
    if not has_only_position_deletes(task) or (rows := _read_written(task.file, wanted)) is None:
        return None
    if not task.delete_files:
        return rows
    return rows.filter(live_mask(rows.num_rows, deleted_positions(io, task)))


def _parquet(data_file: DataFile, wanted: pa.Schema) -> pq.ParquetFile | None:
    """The local data file, when it holds every `wanted` column under its current field id."""
    location = urlparse(data_file.file_path)
    if location.scheme not in ("", "file"):
        return None
    parquet = pq.ParquetFile(unquote(location.path))
    written = {f.name: _field_id(f) for f in parquet.schema_arrow}
    if any(f.name not in written or written[f.name] != _field_id(f) for f in wanted):
        return None
    return parquet


def _read_written(data_file: DataFile, wanted: pa.Schema) -> pa.Table | None:
    """Every row of a local data file written with the current field ids, deleted or not, in file order."""
    parquet = _parquet(data_file, wanted)
    return None if parquet is None else _read_columns(parquet, wanted)


def _read_columns(parquet: pq.ParquetFile, wanted: pa.Schema) -> pa.Table | None:
    """The `wanted` columns of every row of `parquet`, or None when they do not cast to their types."""
    try:
        return parquet.read(columns=wanted.names).cast(wanted)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def added_files(ice: Table, snapshot: Snapshot) -> list[DataFile]:
    """The data files a snapshot added."""
    files = []
    for manifest in snapshot.manifests(ice.io):
        if manifest.added_snapshot_id != snapshot.snapshot_id:
            continue
        for entry in manifest.fetch_manifest_entry(ice.io, discard_deleted=True):
            if entry.status == ManifestEntryStatus.ADDED and entry.snapshot_id == snapshot.snapshot_id:
                files.append(entry.data_file)
    return files


def is_maintenance(snapshot: Snapshot) -> bool:
    """Whether the snapshot only rearranged files (compaction), adding no rows."""
    summary = snapshot.summary
    return bool(
        summary and (MAINTENANCE_PROPERTY in summary.additional_properties or summary.operation == Operation.REPLACE)
    )


class IcebergIncremental:
    """`AppendReader` and `KeyedRewriter` over the tables of an `IcebergTableStore`."""

    def __init__(self, store: IcebergTableStore) -> None:
        self._store = store

    @property
    def writes_candidates(self) -> bool:
        """Whether the rewrites make candidates (over a staged store), as `reports_commits` tells observers."""
        return self._store.writes_candidates

    def _table(self, table: TableId) -> Table:
        return self._store._load(table)  # same adapter package: the store's loader and its errors

    def read_appended(self, table: TableId, after: int | None, columns: Sequence[str] | None = None) -> Appended:
        """The rows of the files appended by snapshots after `after` (see `AppendReader`)."""
        ice = self._table(table)
        current = ice.current_snapshot()
        if current is None:
            return Appended(_scan(ice, [], columns), None, 0, after is None)
        chain = _since(ice, current, after)
        reason = ""
        if after is None:
            reason = "first run"
        elif chain is None:
            reason = f"snapshot {after} is no longer in the history of {table}"
        files: list[DataFile] = []
        for snap in chain or []:
            if reason:
                break
            if is_maintenance(snap):
                continue
            operation = snap.summary.operation if snap.summary else None
            if operation != Operation.APPEND:
                reason = f"snapshot {snap.snapshot_id} of {table} is a {operation}, not an append"
            files += added_files(ice, snap)
        if reason:
            tasks = list(ice.scan(snapshot_id=current.snapshot_id).plan_files())
            data = _scan(ice, tasks, columns)
            return Appended(data, current.snapshot_id, data.num_rows, after is None, reason)
        data = _scan(ice, [FileScanTask(f) for f in files], columns)
        return Appended(data, current.snapshot_id, sum(f.record_count for f in files), True)

    def read_changed(self, table: TableId, after: int, columns: Sequence[str] | None = None) -> Changed:
        """The rows of the files removed and added by snapshots after `after` (see `ChangeReader`)."""
        ice = self._table(table)
        current = ice.current_snapshot()
        empty = _scan(ice, [], columns)
        chain = _since(ice, current, after) if current is not None else []
        if chain is None:
            return Changed(empty, empty, None, 0, False, f"snapshot {after} is no longer in the history of {table}")
        if any(_has_position_deletes(s) for s in [ice.snapshot_by_id(after), *chain]):
            return _changed_by_plans(ice, after, columns)
        added: dict[str, DataFile] = {}
        removed: dict[str, DataFile] = {}
        for snap in chain:
            for entry in _entries(ice, snap):
                path = entry.data_file.file_path
                if entry.status == ManifestEntryStatus.ADDED:
                    added[path] = entry.data_file
                elif path in added:  # added and removed again since `after`: no change
                    del added[path]
                else:
                    removed[path] = entry.data_file
        try:
            gone = _scan(ice, [FileScanTask(f) for f in removed.values()], columns)
        except FileNotFoundError as exc:  # expired since: only a full read can answer
            return Changed(empty, empty, None, 0, False, f"a file removed since {after} is gone: {exc}")
        new = _scan(ice, [FileScanTask(f) for f in added.values()], columns)
        version = current.snapshot_id if current is not None else None
        return Changed(gone, new, version, gone.num_rows + new.num_rows)

    def read_ranges(self, table: TableId, column: str, ranges: Ranges) -> Ranged:
        """Rows of the files whose `column` bounds overlap `ranges` (see `ChangeReader`)."""
        ice = self._table(table)
        tasks = list(ice.scan().plan_files()) if ice.current_snapshot() and ranges else []
        field_id = ice.schema().find_field(column).field_id
        raw = [(_stat_value(low), _stat_value(high)) for low, high in ranges]
        kept = [
            t
            for t in tasks
            if may_overlap(_bound(ice, t.file.lower_bounds, field_id), _bound(ice, t.file.upper_bounds, field_id), raw)
        ]
        data = pa.concat_tables(list(_POOL.map(lambda t: _scan(ice, [t]), kept))) if kept else _scan(ice, [])
        return Ranged(in_ranges(data, column, ranges), sum(t.file.record_count for t in kept))

    @reports_commits
    def replace_keys(
        self,
        table: TableId,
        key: str,
        keys: pa.Array | None,
        replacement: Replacement,
        properties: Mapping[str, str] | None = None,
        *,
        merge_on_read: bool = False,
        check: CommitCheck | None = None,
    ) -> Rewrite:
        """Copy-on-write of the files holding `keys`, or position deletes where few of a file's rows change
        and `merge_on_read` allows (see `KeyedRewriter`)."""
        ice = self._table(table)
        props = check_properties(table, properties)
        schema = arrow_schema(ice.schema())
        if key not in schema.names:
            raise ValueError(f"{table} has no key column {key!r}")
        tasks = list(ice.scan().plan_files()) if ice.current_snapshot() else []
        in_place: list[tuple[FileScanTask, _Hits]] = []
        if keys is None:
            wanted, candidates, touched = None, tasks, tasks
        else:
            wanted = key_set(keys, schema.field(key).type)
            candidates = _candidates(ice, tasks, key, wanted)
            located = _located(ice, candidates, schema, key, wanted)
            merge_on_read = (  # delete files are an Iceberg v2 feature
                merge_on_read
                and ice.metadata.format_version >= 2
                and ice.metadata.properties.get(UPDATE_MODE) != "copy-on-write"
            )
            touched, unknown = [], []
            for task, hits in zip(candidates, located, strict=True):
                if hits is None:
                    unknown.append(task)
                elif merge_on_read and 0 < len(hits.positions) <= hits.live // MERGE_ON_READ_SHARE:
                    in_place.append((task, hits))
                elif len(hits.positions):
                    touched.append(task)
            columns = list(_POOL.map(lambda t: _scan(ice, [t], [key]).column(key), unknown))
            touched += [t for t, hit in zip(unknown, files_holding(columns, wanted), strict=True) if hit]
        current = list(_POOL.map(lambda t: _scan(ice, [t]), touched))
        current += _POOL.map(lambda t: t[1].rows(schema), in_place)
        plan = plan_rewrite(table, schema, key, wanted, current, replacement, moved=len(in_place))
        deletes = [(t.file, hits.positions) for t, hits in in_place]
        commit = self._commit(ice, table, [t.file for t in touched], plan, props, deletes, check)
        added = sum(1 for t in [*plan.rewritten, *plan.inserted] if t.num_rows)
        gone = {t.file.file_path for t in touched}
        kept = [t for t in tasks if t.file.file_path not in gone]
        rows = _live_rows(ice, kept, plan.rows - sum(len(positions) for _, positions in deletes))
        return Rewrite(commit, len(candidates), len(touched), added, plan.rows_replaced, plan.rows, rows,
                       len(in_place), plan.rows_updated)  # fmt: skip

    def _commit(
        self,
        ice: Table,
        table: TableId,
        removed: list[DataFile],
        plan: RewritePlan,
        props: dict[str, str],
        deletes: list[tuple[DataFile, np.ndarray]],
        check: CommitCheck | None,
    ) -> Commit:
        """Commit the rewrite planned on `ice` through the store's commit loop (`commit_with_retries`), on top of
        the commits made since only if `check` accepts them (the plan was made on `ice`, so a check must refuse
        whatever commit touched the rewritten files); without a check, on `ice` only. The files written for a
        rewrite that is refused, or that lost too many races, are removed."""
        outputs = [t for t in [*plan.rewritten, *plan.inserted] if t.num_rows]
        if not removed and not outputs and not deletes:
            return self._store.append(table, arrow_schema(ice.schema()).empty_table(), props, check=check)
        delete_files = write_position_deletes(ice, deletes)
        added = [f for files in _POOL.map(lambda rows: write_rows(ice, rows), outputs) for f in files]

        def stage(tx: CachedTransaction) -> None:
            producer: SnapshotProducer = (
                row_changes(tx, props, delete_files) if delete_files else file_changes(tx, props, bool(removed))
            )
            with producer:
                for data_file in removed:
                    producer.delete_data_file(data_file)
                for data_file in added:
                    producer.append_data_file(data_file)

        branch = self._store._branch  # same adapter package: main, or staged (`IcebergTableStore.staged`)
        planned = [ice]  # the first attempt commits on the table the plan read
        try:
            ice = commit_with_retries(
                table,
                lambda: planned.pop() if planned else self._table(table),
                _history,
                check or CommitCheck.on(_history(ice), refuse_all),
                stage,
                branch,
            )
        except (ConcurrentCommitError, CommitFailedException):
            for data_file in [*added, *delete_files]:
                ice.io.delete(data_file.file_path)
            raise
        return self._store._last_commit(ice)


def _has_position_deletes(snapshot: Snapshot | None) -> bool:
    """Whether the snapshot's table has position deletes, or the snapshot dropped some."""
    return bool(delete_files(snapshot) or delete_files(snapshot, "removed-delete-files"))


def _changed_by_plans(ice: Table, after: int, columns: Sequence[str] | None) -> Changed:
    """`read_changed` of a table with position deletes: the live rows of `after` and of now, file by file.

    A file only in one of the two counts whole (as that snapshot's deletes leave it); a file in both
    lost the rows at the positions deleted since `after` (a position is never deleted twice).
    """
    before = {t.file.file_path: t for t in ice.scan(snapshot_id=after).plan_files()}
    current = ice.current_snapshot()
    now = {t.file.file_path: t for t in ice.scan().plan_files()} if current else {}
    try:
        gone = [_scan(ice, [before[p]], columns) for p in before.keys() - now.keys()]
        lost = []
        for path in before.keys() & now.keys():
            since = np.setdiff1d(deleted_positions(ice.io, now[path]), deleted_positions(ice.io, before[path]))
            if len(since):
                lost.append(_scan(ice, [FileScanTask(now[path].file)], columns).take(since))
    except FileNotFoundError as exc:  # expired since: only a full read can answer
        empty = _scan(ice, [], columns)
        return Changed(empty, empty, None, 0, False, f"a file removed since {after} is gone: {exc}")
    new = [_scan(ice, [now[p]], columns) for p in now.keys() - before.keys()]
    removed, added = _scan(ice, [], columns), _scan(ice, [], columns)
    removed = pa.concat_tables([removed, *gone, *lost])
    added = pa.concat_tables([added, *new])
    version = current.snapshot_id if current else None
    return Changed(removed, added, version, removed.num_rows + added.num_rows)


@dataclass(frozen=True)
class _Hits:
    """Where a data file holds wanted keys: their positions among its rows, and how many rows are live."""

    positions: np.ndarray
    live: int
    file: pq.ParquetFile
    keys: pa.Table

    def rows(self, schema: pa.Schema) -> pa.Table:
        """The rows at `positions`, in `schema` (the key column is not read again)."""
        rest = [n for n in schema.names if n not in self.keys.column_names]
        read = self.file.read(columns=rest).take(self.positions) if rest else pa.table({})
        picked = self.keys.take(self.positions)
        columns = [picked.column(n) if n in picked.column_names else read.column(n) for n in schema.names]
        return pa.Table.from_arrays(columns, schema=schema)


def _located(
    ice: Table, tasks: Sequence[FileScanTask], schema: pa.Schema, key: str, wanted: pa.Array
) -> list[_Hits | None]:
    """For each task, its live rows whose key is wanted, by position; None where only pyiceberg reads the file."""
    read = list(_POOL.map(lambda t: _written_keys(ice, t, schema, key), tasks))
    hits = iter(key_hits([written.column(0) for _, written, _ in filter(None, read)], wanted))
    located: list[_Hits | None] = []
    for found in read:
        if found is None:
            located.append(None)
            continue
        parquet, written, deleted = found
        hit = next(hits)
        if len(deleted):
            hit = pc.and_(hit, live_mask(written.num_rows, deleted))
        positions = np.flatnonzero(hit.to_numpy())
        located.append(_Hits(positions, written.num_rows - len(deleted), parquet, written))
    return located


def _written_keys(
    ice: Table, task: FileScanTask, schema: pa.Schema, key: str
) -> tuple[pq.ParquetFile, pa.Table, np.ndarray] | None:
    """A local data file, its key column (every row, in file order) and its deleted positions; None when only
    pyiceberg reads the file."""
    if not has_only_position_deletes(task) or (parquet := _parquet(task.file, schema)) is None:
        return None
    if (written := _read_columns(parquet, pa.schema([schema.field(key)]))) is None:
        return None
    deleted = deleted_positions(ice.io, task) if task.delete_files else np.empty(0, np.int64)
    return parquet, written, deleted


def _live_rows(ice: Table, kept: list[FileScanTask], change: int) -> int | None:
    """Rows of the table after a rewrite: those of the files it kept, less their deleted rows, plus `change`.

    Not the snapshot summary's records less its position deletes: a delete file still counts the
    rows of a data file a later rewrite removed. None when a file has deletes other than by position.
    """
    if not all(has_only_position_deletes(t) for t in kept):
        return None
    deleted = sum(len(deleted_positions(ice.io, t)) for t in kept if t.delete_files)
    return sum(t.file.record_count for t in kept) - deleted + change


def _since(ice: Table, current: Snapshot | None, after: int | None) -> list[Snapshot] | None:
    """The snapshots after `after` up to `current`, oldest first; None when `after` is not an ancestor."""
    chain: list[Snapshot] = []
    snapshot = current
    while snapshot is not None and snapshot.snapshot_id != after:
        chain.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = ice.snapshot_by_id(parent) if parent is not None else None
    if snapshot is None and after is not None:
        return None
    return chain[::-1]


def _entries(ice: Table, snapshot: Snapshot) -> list[ManifestEntry]:
    """The data files a snapshot added or removed (manifest entries it wrote as ADDED or DELETED)."""
    out = []
    for manifest in snapshot.manifests(ice.io):
        if manifest.added_snapshot_id != snapshot.snapshot_id:
            continue
        for entry in manifest.fetch_manifest_entry(ice.io, discard_deleted=False):
            if entry.snapshot_id == snapshot.snapshot_id and entry.status != ManifestEntryStatus.EXISTING:
                out.append(entry)
    return out


def _stat_value(value: Any) -> Any:
    """A value as Iceberg bounds decode: timestamps as microseconds, dates as days since the epoch."""
    if isinstance(value, datetime):
        return datetime_to_micros(value)
    if isinstance(value, date):
        return date_to_days(value)
    return value


def _bound(ice: Table, bounds: dict[int, bytes] | None, field_id: int) -> Any:
    raw = (bounds or {}).get(field_id)
    if raw is None:
        return None
    field_type = ice.schema().find_field(field_id).field_type
    return from_bytes(field_type, raw)  # type: ignore[arg-type]


def _candidates(ice: Table, tasks: list[FileScanTask], key: str, wanted: pa.Array) -> list[FileScanTask]:
    """Files whose key range may hold one of the wanted keys, or that may hold nulls when null is wanted (no
    statistics: maybe)."""
    bounds, null = key_bounds(wanted)
    field_id = ice.schema().find_field(key).field_id
    out = []
    for task in tasks:
        nulls = (task.file.null_value_counts or {}).get(field_id)  # None: no statistics
        if null and nulls != 0:
            out.append(task)
            continue
        if bounds is None or nulls == task.file.record_count:
            continue  # no non-null key wanted, or the file holds only nulls
        low, high = (_stat_value(v) for v in bounds)
        lower = _bound(ice, task.file.lower_bounds, field_id)
        upper = _bound(ice, task.file.upper_bounds, field_id)
        if isinstance(low, str) and isinstance(upper, str):
            upper = upper + "\U0010ffff"  # string bounds may be truncated prefixes
        try:
            outside = (lower is not None and high < lower) or (upper is not None and low > upper)
        except TypeError:  # bounds of a representation the keys do not have: no pruning
            outside = False
        if not outside:
            out.append(task)
    return out
