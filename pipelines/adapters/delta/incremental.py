"""Incremental capabilities of Delta tables: read the files added since a version, rewrite by key."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.transaction import AddAction, RemoveAction

from pipelines.adapters.delta.data_files import write_data_file
from pipelines.adapters.delta.table_store import DeltaTableStore
from pipelines.adapters.storage import Location
from pipelines.core.names import TableId
from pipelines.core.null_values import null_values
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
    in_ranges,
    key_bounds,
    key_hits,
    key_set,
    may_overlap,
    plan_rewrite,
)
from pipelines.ports.table_store import check_properties, conform_to_schema

_POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="meshlake-rewrite")
"""Reads and writes of whole data files run in parallel (pyarrow releases the GIL)."""
_SKIPPED_OPERATIONS = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})


def log_entry(root: Location, version: int) -> list[dict[str, Any]] | None:
    """The actions of one commit of the Delta log (None when its JSON file was cleaned up)."""
    try:
        text = root.read_bytes(f"_delta_log/{version:020d}.json").decode()
    except FileNotFoundError:
        return None
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def file_path(root: Location, path: str) -> str:
    """The path in `root.filesystem` of a file named in the log (relative and URL-encoded, or an absolute URI)."""
    if urlparse(path).scheme:
        return root.fs_path(path)
    return root.fs_path(root.child_uri(unquote(path)))


def read_files(root: Location, paths: Sequence[tuple[str, Mapping[str, str | None]]], schema: pa.Schema) -> pa.Table:
    """Read data files as rows of `schema`: partition values filled in, columns added since as nulls."""
    tables = []
    for path, partition_values in paths:
        data = pq.read_table(file_path(root, path), filesystem=root.filesystem)
        columns = []
        for field in schema:
            if field.name in data.column_names:
                columns.append(data.column(field.name))
            elif field.name in partition_values and partition_values[field.name] is not None:
                value = pa.scalar(partition_values[field.name]).cast(field.type)
                columns.append(pa.chunked_array([pa.repeat(value, data.num_rows)]))
            else:
                columns.append(pa.chunked_array([null_values(field.type, data.num_rows)]))
        tables.append(pa.Table.from_arrays(columns, names=schema.names))
    if not tables:
        return schema.empty_table()
    data = pa.concat_tables(tables, promote_options="permissive")
    try:
        return data.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return conform_to_schema(TableId("delta", "files"), data, schema)


class DeltaIncremental:
    """`AppendReader` and `KeyedRewriter` over the tables of a `DeltaTableStore` (unpartitioned for rewrites)."""

    def __init__(self, store: DeltaTableStore) -> None:
        self._store = store

    @property
    def writes_candidates(self) -> bool:
        """Whether the rewrites make candidates (over a staged store), as `reports_commits` tells observers."""
        return self._store.writes_candidates

    def _open(self, table: TableId) -> tuple[DeltaTable, Location]:
        return self._store._open(table), self._store._path(table)  # same adapter package

    def read_appended(self, table: TableId, after: int | None, columns: Sequence[str] | None = None) -> Appended:
        """The rows of the files added by commits after version `after` (see `AppendReader`)."""
        root = self._open(table)[1]
        history = self._store.history(table)
        schema = self._store.schema(table)
        wanted = pa.schema([schema.field(c) for c in columns]) if columns is not None else schema
        if not history:
            return Appended(wanted.empty_table(), None, 0, after is None)
        version = history[-1].version
        reason = "first run" if after is None else ""
        added: list[tuple[str, Mapping[str, str | None]]] = []
        for v in range(after + 1 if after is not None else 0, version + 1):
            if reason:
                break
            actions = log_entry(root, v)
            if actions is None:
                reason = f"version {v} of {table} is no longer in its log"
                break
            info: dict[str, Any] = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
            if MAINTENANCE_PROPERTY in info or info.get("operation") in _SKIPPED_OPERATIONS:
                continue
            if any(a["remove"].get("dataChange", True) for a in actions if "remove" in a):
                reason = f"version {v} of {table} ({info.get('operation')}) removed rows"
            added += [
                (a["add"]["path"], a["add"].get("partitionValues") or {})
                for a in actions
                if "add" in a and a["add"].get("dataChange", True)
            ]
        if reason:
            data = self._store.read(table, columns, as_of=version)
            return Appended(data, version, data.num_rows, after is None, reason)
        try:
            data = read_files(root, added, wanted)
        except FileNotFoundError as exc:  # vacuumed since: only a full read can answer
            data = self._store.read(table, columns, as_of=version)
            return Appended(data, version, data.num_rows, False, f"a file appended since was vacuumed: {exc}")
        return Appended(data, version, data.num_rows, True)

    def read_changed(self, table: TableId, after: int, columns: Sequence[str] | None = None) -> Changed:
        """The rows of the files removed and added by commits after version `after` (see `ChangeReader`)."""
        root = self._open(table)[1]
        history = self._store.history(table)
        schema = self._store.schema(table)
        wanted = pa.schema([schema.field(c) for c in columns]) if columns is not None else schema
        empty = wanted.empty_table()
        version = history[-1].version if history else None
        if version is None or not 0 <= after <= version:
            return Changed(empty, empty, None, 0, False, f"version {after} is not in the history of {table}")
        added: dict[str, Mapping[str, str | None]] = {}
        removed: dict[str, Mapping[str, str | None]] = {}
        for v in range(after + 1, version + 1):
            actions = log_entry(root, v)
            if actions is None:
                return Changed(empty, empty, None, 0, False, f"version {v} of {table} is no longer in its log")
            for action in actions:
                if "add" in action:
                    added[action["add"]["path"]] = action["add"].get("partitionValues") or {}
                elif "remove" in action:
                    path = action["remove"]["path"]
                    if added.pop(path, None) is None:  # added and removed again since `after`: no change
                        removed[path] = action["remove"].get("partitionValues") or {}
        try:
            gone = read_files(root, list(removed.items()), wanted)
        except FileNotFoundError as exc:  # vacuumed since: only a full read can answer
            return Changed(empty, empty, None, 0, False, f"a file removed since {after} was vacuumed: {exc}")
        new = read_files(root, list(added.items()), wanted)
        return Changed(gone, new, version, gone.num_rows + new.num_rows)

    def read_ranges(self, table: TableId, column: str, ranges: Ranges) -> Ranged:
        """Rows of the files whose `column` statistics overlap `ranges` (see `ChangeReader`)."""
        delta, root = self._open(table)
        schema = self._store.schema(table)
        files = pa.table(delta.get_add_actions(flatten=True)).to_pylist() if ranges else []
        kept = [f for f in files if _overlaps(f, column, ranges)]
        parts = [read_files(root, [(f["path"], _partition_values(f))], schema) for f in kept]
        data = pa.concat_tables(parts) if parts else schema.empty_table()
        return Ranged(in_ranges(data, column, ranges), sum(int(f["num_records"]) for f in kept))

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
        """Copy-on-write of the files holding `keys` (see `KeyedRewriter`).

        Raises:
            ValueError: also when the table is partitioned (rewrites keep whole files unpartitioned).
        """
        delta, root = self._open(table)
        props = check_properties(table, properties)
        schema = self._store.schema(table)
        if key not in schema.names:
            raise ValueError(f"{table} has no key column {key!r}")
        if delta.metadata().partition_columns:
            raise ValueError(f"{table}: keyed rewrites need an unpartitioned Delta table")
        files = pa.table(delta.get_add_actions(flatten=True)).to_pylist()
        hits: list[pa.ChunkedArray] | None = None
        if keys is None:
            wanted, candidates, touched = None, files, files
        else:
            wanted = key_set(keys, schema.field(key).type)
            bounds, null = key_bounds(wanted)
            candidates = [f for f in files if _may_hold_any(f, key, bounds, null)]
            columns = list(_POOL.map(lambda f: pq.read_table(file_path(root, f["path"]), columns=[key],
                                                             filesystem=root.filesystem).column(key),
                                     candidates))  # fmt: skip
            found = [
                (f, hit) for f, hit in zip(candidates, key_hits(columns, wanted), strict=True) if pc.any(hit).as_py()
            ]
            touched, hits = [f for f, _ in found], [hit for _, hit in found]
        current = list(_POOL.map(lambda f: read_files(root, [(f["path"], {})], schema), touched))
        plan = plan_rewrite(table, schema, key, wanted, current, replacement, hits=hits)
        outputs = [t for t in [*plan.rewritten, *plan.inserted] if t.num_rows]
        if not touched and not outputs:
            empty = self._store.append(table, schema.empty_table(), props, check=check)
            return Rewrite(empty, len(candidates), 0, 0, 0, 0)
        now = int(time.time() * 1000)
        actions: list[AddAction | RemoveAction] = [
            RemoveAction(f["path"], True, now, f["size_bytes"], {}) for f in touched
        ]
        written = list(_POOL.map(lambda rows: write_data_file(root, rows), outputs))
        actions += written
        check = check or CommitCheck.on(self._store._history(delta), refuse_all)  # no check: only on `delta`
        try:  # planned on `delta`: a check must refuse whatever commit touched the rewritten files
            commit = self._store._commit_actions(table, actions, props, check, delta)
        except ConcurrentCommitError:
            root.delete_files([root.child_uri(a.path) for a in written])
            raise
        gone = {f["path"] for f in touched}
        total = sum(f["num_records"] for f in files if f["path"] not in gone) + plan.rows  # the files now live
        return Rewrite(commit, len(candidates), len(touched), len(outputs), plan.rows_replaced, plan.rows, total,
                       rows_updated=plan.rows_updated)  # fmt: skip


def _may_hold_any(action: Mapping[str, Any], key: str, bounds: tuple[Any, Any] | None, null: bool) -> bool:
    """Whether the file of `action` may hold a null key (when `null` is wanted) or a key within `bounds`."""
    nulls = action.get(f"null_count.{key}")  # None: no statistics, the file may hold nulls
    if null and nulls != 0:
        return True
    return bounds is not None and nulls != action["num_records"] and _may_hold(action, key, bounds)


def _may_hold(action: Mapping[str, Any], key: str, bounds: tuple[Any, Any]) -> bool:
    low, high = action.get(f"min.{key}"), action.get(f"max.{key}")
    if low is None or high is None:
        return True
    try:
        return not (bounds[1] < low or bounds[0] > high)
    except TypeError:
        return True


def _partition_values(action: Mapping[str, Any]) -> dict[str, str | None]:
    prefix = "partition."
    return {k[len(prefix) :]: None if v is None else str(v) for k, v in action.items() if k.startswith(prefix)}


def _overlaps(action: Mapping[str, Any], column: str, ranges: Ranges) -> bool:
    low, high = action.get(f"min.{column}"), action.get(f"max.{column}")
    if low is None and f"partition.{column}" in action:
        low = high = action[f"partition.{column}"]
    return may_overlap(low, high, ranges)
