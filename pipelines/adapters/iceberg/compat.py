"""Every use of pyiceberg's private API, in one place (tests/unit/test_iceberg_compat.py pins each).

pyiceberg is used through its public API everywhere else. Each use here says why it is needed
and which public API would replace it; an upgrade that changes one fails that test by name.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Self

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.io import OutputFile
from pyiceberg.io.pyarrow import ParquetFormatWriter
from pyiceberg.manifest import (
    DataFile,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestWriterV2,
)
from pyiceberg.schema import Schema
from pyiceberg.table import Table, Transaction
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import Operation, Summary
from pyiceberg.table.update import TableRequirement, TableUpdate
from pyiceberg.table.update.snapshot import _FastAppendFiles, _ManifestMergeManager, _OverwriteFiles, _SnapshotProducer
from pyiceberg.typedef import EMPTY_DICT, Properties
from sqlalchemy import Select, bindparam, select

MERGE_MANIFESTS_AT = 8
"""Manifests a commit leaves as they are; at this many, it merges them into one (amortised O(1) per commit)."""
_MANIFEST_TARGET_BYTES = 8 * 1024 * 1024

SnapshotProducer = _FastAppendFiles | _OverwriteFiles
"""The snapshot producers the stores commit with (pyiceberg's classes are private)."""


METADATA_CACHE_SIZE = 256
"""Parsed metadata files kept per catalog (the newest of every table a process uses, and some before)."""


class ParsedOnceSqlCatalog(SqlCatalog):
    """`SqlCatalog` whose loads share the metadata parsed once per metadata file (see `MetadataCachingSqlCatalog`).

    `SqlCatalog.load_table` parses the table's metadata file on every load; the parse happens in
    `_convert_orm_to_iceberg` (private), overridden here, and a table is built with the catalog's
    `_load_file_io` (private), as pyiceberg builds it.
    Public replacement: a metadata cache in pyiceberg's catalogs (none in 0.12).
    """

    def __init__(self, name: str, **properties: str) -> None:
        super().__init__(name, **properties)
        self._parsed: OrderedDict[str, TableMetadata] = OrderedDict()
        self._lock = threading.Lock()

    def _convert_orm_to_iceberg(self, orm_table: Any) -> Table:
        location = orm_table.metadata_location
        with self._lock:
            metadata = self._parsed.get(location) if location else None
            if metadata is not None:
                self._parsed.move_to_end(location)
        if metadata is None:
            table = super()._convert_orm_to_iceberg(orm_table)
            self.remember(table.metadata_location, table.metadata)
            return table
        return Table(
            identifier=(*Catalog.identifier_to_tuple(orm_table.table_namespace), orm_table.table_name),
            metadata=metadata,
            metadata_location=location,
            io=self._load_file_io(metadata.properties, location),
            catalog=self,
        )

    def metadata_location(self, identifier: tuple[str, str]) -> str | None:
        """The table's current metadata file as the catalog points to it (None: no such table), without
        loading the table: `load_table`'s SELECT of the row alone (`IcebergTables`, with the type filter
        `_iceberg_type_filter`, private), built once: ~0.03 ms instead of ~0.3 ms for a load on SQLite.
        Public replacement: none (pyiceberg loads the whole table to say where its metadata is).
        """
        namespace, name = identifier
        with self.engine.connect() as connection:
            found = connection.execute(self._pointer_query, {"namespace": namespace, "name": name})
            return found.scalar_one_or_none()

    @functools.cached_property
    def _pointer_query(self) -> Select[str | None]:
        query = select(IcebergTables.metadata_location).where(
            IcebergTables.catalog_name == self.name,
            IcebergTables.table_namespace == bindparam("namespace"),
            IcebergTables.table_name == bindparam("name"),
        )
        if (type_filter := self._iceberg_type_filter()) is not None:
            query = query.where(type_filter)
        return query

    def remember(self, location: str, metadata: TableMetadata) -> None:
        """Keep the parsed metadata of `location` (a file just written or read)."""
        with self._lock:
            self._parsed[location] = metadata
            self._parsed.move_to_end(location)
            while len(self._parsed) > METADATA_CACHE_SIZE:
                self._parsed.popitem(last=False)


def stage_updates(
    tx: Transaction, updates: tuple[TableUpdate, ...], requirements: tuple[TableRequirement, ...]
) -> None:
    """Add metadata `updates`, committed only if `requirements` hold, to `tx` (`Transaction._stage`, private).

    Schema evolution builds its schema itself (ids from `schema_ids`); pyiceberg's `UpdateSchema`
    would number new columns its own way.
    Public replacement: none (a transaction takes only the updates its builders make).
    """
    tx._stage(updates, requirements)


def parquet_writer(
    output: OutputFile, schema: Schema, properties: Properties, arguments: Mapping[str, Any]
) -> ParquetFormatWriter:
    """pyiceberg's Parquet writer of `output`, passing pyarrow's writer `arguments` beyond those its table properties
    name (per-column encodings: `column_encodings`), added to its `_parquet_writer_kwargs` (private).

    Public replacement: none (pyiceberg's `write.parquet.*` properties name no per-column encoding).
    """
    writer = ParquetFormatWriter(output, schema, properties)
    writer._parquet_writer_kwargs.update(arguments)
    return writer


def table_of(tx: Transaction) -> Table:
    """The table a transaction commits to (`Transaction._table`, private).

    Public replacement: none (a transaction does not expose its table).
    """
    return tx._table


class CachedTransaction(Transaction):
    """`Transaction` with `table_metadata` cached on the identity of its two inputs.

    `Transaction.table_metadata` replays the staged updates and deep-copies the whole metadata,
    snapshot list included, on every read, and a snapshot producer reads it dozens of times per
    commit (apache/iceberg-python#2673). `_updates` (private) is a tuple rebound on every staged
    update and `Table.metadata` is replaced after a commit, so an identity check invalidates the
    cache without hooks at the mutation sites.
    Public replacement: pyiceberg's own cache (apache/iceberg-python#3302/#3784), once released.

    `branch` is the branch the snapshots made in the transaction go to; None stages them (a
    snapshot on `main`'s head that no ref points to, for write-audit-publish: the private
    producers' `branch=None`, pinned by test_a_producer_of_no_branch_stages_a_snapshot_...).
    Public replacement: `Transaction.append(..., branch=)` takes a branch but cannot stage.
    """

    def __init__(self, table: Table, autocommit: bool = False, branch: str | None = MAIN_BRANCH) -> None:
        super().__init__(table, autocommit)
        self._cached: tuple[object, object, TableMetadata] | None = None
        self.branch = branch

    def __enter__(self) -> Self:  # `Transaction.__enter__` returns self, typed as a plain `Transaction`
        return self

    @property
    def table_metadata(self) -> TableMetadata:
        base, updates = self._table.metadata, self._updates
        if self._cached is None or self._cached[0] is not base or self._cached[1] is not updates:
            self._cached = (base, updates, super().table_metadata)
        return self._cached[2]


class SingleAttemptTransaction(CachedTransaction):
    """A transaction whose commit is tried once: a concurrent commit raises `CommitFailedException`.

    pyiceberg (0.12) retries a failed commit by re-running the snapshot producers on the new table
    state (`commit.retry.num-retries`, default 4): an append is then committed again on top of the
    winner's, whatever it held, and two writers of the same source positions both land their rows.
    The table stores retry themselves (`commit_with_retries`), asking the writer's `CommitCheck`
    first. A producer not registered with the transaction (`_register_snapshot_producer`, private)
    is not retried; its manifests of a failed attempt are removed by `discard`.
    Public replacement: a per-transaction retry setting (only the table property exists).
    """

    def __init__(self, table: Table, branch: str | None = MAIN_BRANCH) -> None:
        super().__init__(table, autocommit=False, branch=branch)
        self._attempted: list[_SnapshotProducer[Any]] = []

    def _register_snapshot_producer(self, producer: _SnapshotProducer[Any]) -> None:
        self._attempted.append(producer)

    def discard(self) -> None:
        """Remove the manifests and manifest lists the failed commit wrote (`_clean_all_uncommitted`, private).

        Public replacement: none (pyiceberg calls it itself when its own retries give up).
        """
        for producer in self._attempted:
            producer._clean_all_uncommitted()
        self._attempted.clear()


def _merged(producer: SnapshotProducer, manifests: list[ManifestFile]) -> list[ManifestFile]:
    """The data manifests merged once there are `MERGE_MANIFESTS_AT` (`_ManifestMergeManager`, private)."""
    data = [m for m in manifests if m.content == ManifestContent.DATA]
    deletes = [m for m in manifests if m.content == ManifestContent.DELETES]
    merger: _ManifestMergeManager[Any] = _ManifestMergeManager(
        _MANIFEST_TARGET_BYTES, MERGE_MANIFESTS_AT, True, producer
    )
    return merger.merge_manifests(data) + deletes


class MergingAppend(_FastAppendFiles):
    """A fast append that merges manifests (`_FastAppendFiles._process_manifests`, private hook).

    pyiceberg merges manifests only in its `_MergeAppendFiles`, chosen by the table property
    `commit.manifest-merge.enabled`, which this store's older tables lack; every fast append then
    adds a manifest and scan planning reads one per past commit.
    Public replacement: `Transaction.append` with the table property set on every table (a table
    property update of each existing table).
    """

    def _process_manifests(self, manifests: list[ManifestFile]) -> list[ManifestFile]:
        return _merged(self, manifests)


class MergingOverwrite(_OverwriteFiles):
    """An overwrite that merges manifests, as `MergingAppend` (pyiceberg's overwrite never merges).

    Public replacement: none in pyiceberg 0.12 (an overwrite's manifests are never merged).
    """

    def _process_manifests(self, manifests: list[ManifestFile]) -> list[ManifestFile]:
        return _merged(self, manifests)


class _DeleteManifestWriter(ManifestWriterV2):
    """A manifest of delete files (pyiceberg 0.12 writes data manifests only; `_meta`, private, names its content).

    Public replacement: pyiceberg's own delete-file writing (merge-on-read deletes), not released.
    """

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


class RowLevelOverwrite(MergingOverwrite):
    """An overwrite that also adds position-delete files, or drops every one the table has (`row_changes`).

    Dropping them is right only when every live data file they refer to is rewritten by the same
    commit (compaction applying them). An overwrite that removes no data file leaves every manifest
    as it is, unread, as an append does. Overrides the private hooks `_existing_manifests`,
    `_deleted_entries`, `_manifests` and `_summary`, and reads `_deleted_data_files`,
    `_added_data_files`, `_snapshot_id`, `_compression`, `_io`, `_transaction`.
    Public replacement: none in pyiceberg 0.12 (no API commits position-delete files).
    """

    def __init__(
        self,
        tx: CachedTransaction,
        properties: dict[str, str],
        position_deletes: Sequence[DataFile],
        drop_position_deletes: bool,
    ) -> None:
        super().__init__(Operation.OVERWRITE, tx, table_of(tx).io, snapshot_properties=properties, branch=tx.branch)
        self._position_deletes = list(position_deletes)
        self._drop_position_deletes = drop_position_deletes
        self._dropped: list[DataFile] = []

    def _existing_manifests(self) -> list[ManifestFile]:
        if self._deleted_data_files:
            return super()._existing_manifests()
        return _FastAppendFiles._existing_manifests(self)  # type: ignore[arg-type]

    def _deleted_entries(self) -> list[ManifestEntry]:
        return super()._deleted_entries() if self._deleted_data_files else []

    def _manifests(self) -> list[ManifestFile]:
        manifests = super()._manifests()
        if self._drop_position_deletes:
            for manifest in [m for m in manifests if m.content == ManifestContent.DELETES]:
                entries = manifest.fetch_manifest_entry(self._io, discard_deleted=True)
                self._dropped += [e.data_file for e in entries]
            manifests = [m for m in manifests if m.content == ManifestContent.DATA]
        if self._position_deletes:
            writer = _DeleteManifestWriter(
                self._transaction.table_metadata.spec(), self.schema(), self.new_manifest_output(),
                self._snapshot_id, self._compression,
            )  # fmt: skip
            with writer:
                for delete_file in self._position_deletes:
                    entry = ManifestEntry.from_args(
                        status=ManifestEntryStatus.ADDED, snapshot_id=self._snapshot_id, data_file=delete_file
                    )
                    writer.add(entry)
            manifests.append(writer.to_manifest_file())
        return manifests

    def _summary(self, snapshot_properties: dict[str, str] = EMPTY_DICT) -> Summary:
        # pyiceberg's summary counts the files in these two collections by their content (data or
        # deletes); the delete files join them only while it counts, never the data manifests
        added, deleted = self._added_data_files, self._deleted_data_files
        self._added_data_files = [*added, *self._position_deletes]
        self._deleted_data_files = {*deleted, *self._dropped}
        try:
            return super()._summary(snapshot_properties)
        finally:
            self._added_data_files, self._deleted_data_files = added, deleted
