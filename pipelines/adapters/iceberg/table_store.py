"""IcebergTableStore: tables in a pyiceberg SQL catalog (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.expressions import AlwaysTrue, In
from pyiceberg.io import load_file_io
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFile
from pyiceberg.partitioning import PARTITION_FIELD_ID_START, PartitionSpec
from pyiceberg.partitioning import PartitionField as IcebergPartitionField
from pyiceberg.schema import Schema
from pyiceberg.serializers import ToOutputFile
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadataV2
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER
from pyiceberg.table.update import (
    AddSchemaUpdate,
    AssertCurrentSchemaId,
    AssertLastAssignedFieldId,
    SetCurrentSchemaUpdate,
    SetPropertiesUpdate,
)
from pyiceberg.transforms import DayTransform, IdentityTransform, MonthTransform, Transform, YearTransform

from pipelines.adapters.iceberg.catalog import open_sql_catalog
from pipelines.adapters.iceberg.compat import CachedTransaction, ParsedOnceSqlCatalog, stage_updates, table_of
from pipelines.adapters.iceberg.data_files import WRITE_PROPERTIES, IcebergDataFiles
from pipelines.adapters.iceberg.schema_ids import (
    NUMBERS_PROPERTY,
    arrow_schema,
    decode_numbers,
    encode_numbers,
    evolved_iceberg_schema,
    iceberg_schema,
    nested_numbers,
    with_numbers,
)
from pipelines.adapters.iceberg.transaction import commit_with_retries, file_changes
from pipelines.adapters.partition_files import write_partitioned
from pipelines.adapters.storage import Location, as_location
from pipelines.core.commits import Commit, TableFormat
from pipelines.core.names import TableId
from pipelines.ports.commit_check import CommitCheck, ConcurrentCommitError
from pipelines.ports.commit_observers import reports_commits
from pipelines.ports.table_evolution import (
    SchemaChange,
    SchemaEvolutionError,
    align_to_schema,
    check_key_columns,
    matching_rows,
    plan_evolution,
)
from pipelines.ports.table_store import (
    PROPERTY_PREFIX,
    Batch,
    PartitionField,
    TableNotFoundError,
    check_partitioning,
    check_properties,
    conform_batch,
    conform_to_schema,
    table_schema,
)

_TRANSFORMS: dict[str, Transform[Any, Any]] = {
    "identity": IdentityTransform(),
    "day": DayTransform(),
    "month": MonthTransform(),
    "year": YearTransform(),
}


def _partition_spec(schema: Schema, partition_by: Sequence[PartitionField]) -> PartitionSpec:
    fields = []
    for position, part in enumerate(partition_by):
        source = schema.find_field(part.column)
        fields.append(
            IcebergPartitionField(
                source_id=source.field_id,
                field_id=PARTITION_FIELD_ID_START + position,
                transform=_TRANSFORMS[part.transform],
                name=part.column if part.transform == "identity" else f"{part.column}_{part.transform}",
            )
        )
    return PartitionSpec(*fields, spec_id=0)


_STATS = {
    "rows_added": ("added-records",),
    "rows_deleted": ("deleted-records", "added-position-deletes", "added-equality-deletes"),
    "files_added": ("added-data-files", "added-delete-files"),
    "files_removed": ("deleted-data-files", "removed-delete-files"),
    "bytes_added": ("added-files-size",),
}
"""`Commit.stats` from the snapshot summary's counts: each the sum of the summary fields present."""


def _stats(summary: Mapping[str, str]) -> dict[str, int]:
    return {
        name: sum(int(summary[key]) for key in keys if key in summary)
        for name, keys in _STATS.items()
        if any(key in summary for key in keys)
    }


def _commit(snapshot: Snapshot, sequence: int) -> Commit:
    summary = snapshot.summary.additional_properties if snapshot.summary else {}
    return Commit(
        version=snapshot.snapshot_id,
        sequence=sequence,
        timestamp_ms=snapshot.timestamp_ms,
        properties={k: v for k, v in summary.items() if k.startswith(PROPERTY_PREFIX)},
        stats=_stats(summary),
    )


def _history(ice: Table) -> list[Commit]:
    snapshots = [ice.snapshot_by_id(entry.snapshot_id) for entry in ice.metadata.snapshot_log]
    return [_commit(s, i) for i, s in enumerate((s for s in snapshots if s is not None), start=1)]


class _NothingMatchesError(Exception):
    """No row of the table matches the keys to delete (now): nothing is committed."""


class IcebergTableStore:
    """Iceberg tables of a pyiceberg catalog: meshlake's `SqlCatalog` by default, or any catalog given (REST).

    The namespace is the table's domain, the Iceberg table name its name, the data and metadata live
    under `<warehouse>/<domain>/<name>`. Top-level field ids are the Arrow schema's
    `PARQUET:field_id` values (see `schema_ids`). Commits are snapshots: `Commit.version` is the
    snapshot id, the properties are the snapshot summary's `meshlake.*` entries.
    """

    def __init__(
        self, warehouse: Location | Path | str, catalog_uri: str | None = None, *, catalog: Catalog | None = None
    ) -> None:
        """Open (and create if needed) the catalog.

        Args:
            warehouse: where table data and metadata live: a local directory (created if missing) or
                an object store location (`s3://bucket/prefix`, opened with its storage options).
            catalog_uri: SQLAlchemy URI of the catalog database; default
                `sqlite:///<warehouse>/catalog.db` for a local warehouse (required for any other).
                `postgresql+psycopg2://...` works as well.
            catalog: a pyiceberg catalog to use instead of the SQL catalog, e.g. a `RestCatalog` on the
                catalog service's `/iceberg` (its tables' files live under `warehouse` as well).

        Raises:
            StorageError: the warehouse cannot be reached.
            ValueError: an object store warehouse without a catalog URI.
        """
        self._warehouse = as_location(warehouse)
        self._warehouse.check()
        self._branch: str | None = MAIN_BRANCH
        # where appends write data files with the store's own filesystem (`IcebergDataFiles`): only with the
        # store's SQL catalog, whose FileIO has the warehouse's own credentials (a REST catalog vends its own)
        self._own_files: Location | None = None
        if catalog is not None:
            self._catalog: Catalog = catalog
            return
        self._own_files = self._warehouse
        local = self._warehouse.local_path
        if catalog_uri is None and local is None:
            raise ValueError(f"the Iceberg warehouse {self._warehouse} needs a catalog URI (SQLite or PostgreSQL)")
        uri = catalog_uri or f"sqlite:///{local}/catalog.db"
        self._catalog = open_sql_catalog(uri, self._warehouse.as_uri(), self._warehouse.iceberg_properties())

    @property
    def format(self) -> TableFormat:
        return TableFormat.ICEBERG

    @property
    def warehouse(self) -> Location:
        """Where the tables' files live."""
        return self._warehouse

    @property
    def writes_candidates(self) -> bool:
        """Whether this store's commits make candidates (`staged`), as `reports_commits` tells observers."""
        return self._branch is None

    def staged(self) -> IcebergTableStore:
        """The same tables, whose data commits make staged snapshots: added to the table's metadata, current
        for no reader until published (`IcebergCandidates`)."""
        staged = copy.copy(self)
        staged._branch = None
        return staged

    def exists(self, table: TableId) -> bool:
        return self._catalog.table_exists((table.domain, table.name))

    def metadata_location(self, table: TableId) -> str | None:
        """The table's current metadata file, when the catalog says it without loading the table (meshlake's
        SQL catalog); None otherwise, or when there is no such table."""
        if isinstance(self._catalog, ParsedOnceSqlCatalog):
            return self._catalog.metadata_location((table.domain, table.name))
        return None

    def drop_table(self, table: TableId) -> None:
        """Drop the table from the catalog, then delete its data, manifest and metadata files."""
        try:
            self._catalog.purge_table((table.domain, table.name))
        except NoSuchTableError:
            return

    def ensure_table(self, table: TableId, schema: pa.Schema, partition_by: Sequence[PartitionField] = ()) -> None:
        """Create the table if it does not exist; an existing table is left as it is.

        The v2 table metadata is written here rather than by `create_table`, which would renumber
        the fields; the catalog then registers it.

        Raises:
            ValueError: the schema's field ids or types, or the partitioning, do not fit.
        """
        if self.exists(table):
            return
        stored = table_schema(schema)
        check_partitioning(table, stored, partition_by)
        try:
            ice_schema = iceberg_schema(stored)
        except ValueError as exc:
            raise ValueError(f"{table}: {exc}") from exc
        numbers = nested_numbers(stored, arrow_schema(ice_schema))
        spec = _partition_spec(ice_schema, partition_by)
        location = (self._warehouse / table.domain / table.name).as_uri()
        metadata = TableMetadataV2.model_validate(
            {
                "location": location,
                "table-uuid": uuid.uuid4(),
                "last-column-id": ice_schema.highest_field_id,
                "schemas": [ice_schema],
                "current-schema-id": ice_schema.schema_id,
                "partition-specs": [spec],
                "default-spec-id": spec.spec_id,
                "last-partition-id": spec.last_assigned_field_id,
                "properties": {**WRITE_PROPERTIES, NUMBERS_PROPERTY: encode_numbers(numbers)},
                "sort-orders": [UNSORTED_SORT_ORDER],
                "default-sort-order-id": UNSORTED_SORT_ORDER.order_id,
            }
        )
        metadata_location = f"{location}/metadata/00000-{uuid.uuid4()}.metadata.json"
        io = load_file_io(properties=self._catalog.properties, location=metadata_location)
        ToOutputFile.table_metadata(metadata, io.new_output(metadata_location))
        self._catalog.create_namespace_if_not_exists(table.domain)
        try:
            self._catalog.register_table((table.domain, table.name), metadata_location)
        except TableAlreadyExistsError:
            io.delete(metadata_location)  # another writer created it first: theirs stands

    def schema(self, table: TableId) -> pa.Schema:
        """The table's Arrow schema: every field carries its Iceberg id as `PARQUET:field_id`."""
        return arrow_schema(self._load(table).schema())

    @reports_commits
    def append(
        self,
        table: TableId,
        data: pa.Table,
        properties: Mapping[str, str] | None = None,
        check: CommitCheck | None = None,
    ) -> Commit:
        """Append rows in one snapshot whose summary also stores `properties`; returns its commit.

        An empty `data` still makes a snapshot (it records the properties). A commit that loses a
        race with another writer is made again on top of the winner's if `check` accepts it.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: the data or the properties do not fit; the table is left as it was.
            ConcurrentCommitError: `check` refused another writer's commits; nothing was committed.
        """
        return self._write(table, data, properties, check, replace=False)

    @reports_commits
    def append_batches(
        self,
        table: TableId,
        batches: Iterable[Batch],
        properties: Callable[[], Mapping[str, str]],
        check: CommitCheck | None = None,
    ) -> Commit:
        """Write each batch into data files (one per partition) as it comes, then add them all in one snapshot.

        pyiceberg streams only into unpartitioned tables and takes the snapshot properties up front;
        here the files are written with its Parquet writer (`IcebergDataFiles`, `write_partitioned`:
        a partition's file stays open across batches) and committed once `properties()` is known,
        like `append` (manifests merged as the history grows; `check` asked on a lost race). A
        batch or properties that do not fit, or a refused check, remove the files written so far.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: a batch or the properties do not fit; nothing is committed.
            ConcurrentCommitError: `check` refused another writer's commits; nothing was committed.
        """
        ice = self._load(table)
        schema = arrow_schema(ice.schema())
        files = IcebergDataFiles(ice, self._own_files)
        try:
            written, props = write_partitioned(
                batches,
                lambda batch: files.split(*conform_batch(table, batch, schema)),
                files.open,
                lambda: check_properties(table, properties()),
            )
        except BaseException:
            files.remove()
            raise
        data_files = []
        for file in written:
            assert file.data_file is not None, "write_partitioned returns closed files"
            data_files.append(file.data_file)
        return self._commit_files(table, files, data_files, props, check)

    def _write(
        self,
        table: TableId,
        data: pa.Table,
        properties: Mapping[str, str] | None,
        check: CommitCheck | None,
        replace: bool,
    ) -> Commit:
        """Write `data` as data files once, then commit them (`_commit_files`)."""
        ice = self._load(table)
        props = check_properties(table, properties)
        rows = conform_to_schema(table, data, arrow_schema(ice.schema()))
        files = IcebergDataFiles(ice, self._own_files)
        try:
            data_files = files.write(rows) if rows.num_rows else []
        except BaseException:
            files.remove()
            raise
        return self._commit_files(table, files, data_files, props, check, replace)

    def _commit_files(
        self,
        table: TableId,
        files: IcebergDataFiles,
        data_files: Sequence[DataFile],
        props: dict[str, str],
        check: CommitCheck | None,
        replace: bool = False,
    ) -> Commit:
        """Add `data_files` (written by `files`) in one snapshot (`commit_with_retries`), which with `replace`
        also deletes every data file of the state it commits on; on a commit that surely did not land
        (refused, or too many races lost), the files are removed."""

        def stage(tx: CachedTransaction) -> None:
            live = [task.file for task in table_of(tx).scan().plan_files()] if replace else []
            with file_changes(tx, props, deletes=replace) as producer:
                for data_file in live:
                    producer.delete_data_file(data_file)
                for data_file in data_files:
                    producer.append_data_file(data_file)

        try:
            committed = commit_with_retries(table, lambda: self._load(table), _history, check, stage, self._branch)
        except (ConcurrentCommitError, CommitFailedException):
            files.remove()
            raise
        return self._last_commit(committed)

    @reports_commits
    def overwrite(
        self,
        table: TableId,
        data: pa.Table,
        properties: Mapping[str, str] | None = None,
        check: CommitCheck | None = None,
    ) -> Commit:
        """Replace all rows in one snapshot (not pyiceberg's delete-then-append pair).

        The rows are written once; a commit that loses a race with another writer replaces the
        winner's files instead if `check` (if any) accepts its commits.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: the data or the properties do not fit; the table is left as it was.
            ConcurrentCommitError: `check` refused another writer's commits; nothing was committed.
        """
        return self._write(table, data, properties, check, replace=True)

    def evolve_schema(self, table: TableId, schema: pa.Schema) -> tuple[SchemaChange, ...]:
        """Add a new current schema whose ids follow `schema_ids` (no snapshot is made).

        pyiceberg's UpdateSchema would number new columns itself; the schema is built here and
        committed with `AddSchemaUpdate`/`SetCurrentSchemaUpdate`, guarded by the current schema id
        and last column id, through the store's commit loop (`commit_with_retries`): a concurrent
        evolution or commit makes it plan again on the winner's schema.

        Raises:
            TableNotFoundError: the table does not exist.
            SchemaEvolutionError: the change is not compatible; nothing changes.
        """
        changes: tuple[SchemaChange, ...] = ()

        def stage(tx: CachedTransaction) -> None:
            nonlocal changes
            ice = table_of(tx)
            current = ice.schema()
            numbers = decode_numbers(ice.properties.get(NUMBERS_PROPERTY))
            plan = plan_evolution(table, with_numbers(arrow_schema(current), numbers), schema)
            changes = plan.changes
            if not changes:
                return
            schema_id = max(s.schema_id for s in ice.metadata.schemas) + 1
            last_id = ice.metadata.last_column_id
            try:
                evolved, new_numbers = evolved_iceberg_schema(current, plan.schema, last_id, schema_id, numbers)
            except ValueError as exc:
                raise SchemaEvolutionError(table, [str(exc)]) from exc
            keep = (
                ()
                if new_numbers is None
                else (SetPropertiesUpdate(updates={NUMBERS_PROPERTY: encode_numbers(new_numbers)}),)
            )
            stage_updates(
                tx,
                (
                    AddSchemaUpdate.model_validate({"schema": evolved}),
                    SetCurrentSchemaUpdate.model_validate({"schema-id": schema_id}),
                    *keep,
                ),
                (
                    AssertCurrentSchemaId.model_validate({"current-schema-id": current.schema_id}),
                    AssertLastAssignedFieldId.model_validate({"last-assigned-field-id": last_id}),
                ),
            )

        commit_with_retries(table, lambda: self._load(table), _history, None, stage)
        return changes

    @reports_commits
    def delete_rows(self, table: TableId, keys: pa.Table, properties: Mapping[str, str] | None = None) -> Commit | None:
        """Rewrite the data files holding matching rows, in one overwrite snapshot.

        Unlike pyiceberg's `delete`, which may make a delete and an overwrite snapshot, this is one
        snapshot, so one commit carries the properties. A delete that loses a race with another
        writer is planned again on the winner's state (`commit_with_retries`): deletes of other rows
        at once all land.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: a key column does not fit, or the properties do not.
        """
        ice = self._load(table)
        props = check_properties(table, properties)
        check_key_columns(table, arrow_schema(ice.schema()), keys)
        if keys.num_rows == 0 or ice.current_snapshot() is None:
            return None
        first = keys.column_names[0]
        candidates = In(first, set(keys.column(first).to_pylist()))  # type: ignore[call-arg,arg-type]
        written: list[IcebergDataFiles] = []

        def stage(tx: CachedTransaction) -> None:
            for files in written:  # the files of a rewrite planned on a state another writer changed
                files.remove()
            written.clear()
            current = table_of(tx)
            reader = ArrowScan(current.metadata, current.io, current.schema(), AlwaysTrue())
            touched, kept = [], []
            for task in current.scan(row_filter=candidates).plan_files():
                data = reader.to_table([task])
                hit = matching_rows(table, data, keys)
                if pc.any(hit).as_py():
                    touched.append(task.file)
                    kept.append(data.filter(pc.invert(hit)))
            if not touched:
                raise _NothingMatchesError
            files = IcebergDataFiles(current)
            written.append(files)
            rows = pa.concat_tables(kept)
            with file_changes(tx, props, deletes=True) as replace:
                for data_file in touched:
                    replace.delete_data_file(data_file)
                for data_file in files.write(rows) if rows.num_rows else []:
                    replace.append_data_file(data_file)

        try:
            committed = commit_with_retries(table, lambda: self._load(table), _history, None, stage, self._branch)
        except _NothingMatchesError:
            return None
        except BaseException:
            for files in written:
                files.remove()
            raise
        return self._last_commit(committed)

    def read(self, table: TableId, columns: Sequence[str] | None = None, as_of: int | None = None) -> pa.Table:
        """Read the table (or only `columns`), at the current snapshot or snapshot `as_of`.

        A snapshot written under an earlier schema is read in the current one.

        Raises:
            TableNotFoundError: the table does not exist.
            ValueError: `as_of` is not a snapshot of the table, or a column is unknown.
        """
        ice = self._load(table)
        schema = arrow_schema(ice.schema())
        names = list(columns) if columns is not None else schema.names
        if unknown := [c for c in names if c not in schema.names]:
            raise ValueError(f"{table} has no column(s) {', '.join(unknown)}")
        wanted = pa.schema([schema.field(n) for n in names])
        if as_of is None:
            scanned = ice.scan(selected_fields=tuple(names) or ("*",)).to_arrow()
            return scanned.select(names).cast(wanted)
        snapshot = ice.snapshot_by_id(as_of)
        if snapshot is None:
            raise ValueError(f"{table} has no version {as_of}")
        then = next((s for s in ice.metadata.schemas if s.schema_id == snapshot.schema_id), ice.schema())
        present = [n for n in names if n in {f.name for f in then.fields}]
        scanned = ice.scan(selected_fields=tuple(present) or ("*",), snapshot_id=as_of).to_arrow()
        return align_to_schema(scanned.select(present), wanted)

    def history(self, table: TableId) -> list[Commit]:
        """One commit per snapshot still in the snapshot log, oldest first."""
        return _history(self._load(table))

    def location(self, table: TableId) -> str:
        """The URI of the table's current metadata file."""
        return self._load(table).metadata_location

    def _load(self, table: TableId) -> Table:
        try:
            return self._catalog.load_table((table.domain, table.name))
        except NoSuchTableError:
            raise TableNotFoundError(
                table, f"the Iceberg catalog {self._catalog.name!r} at {self._warehouse}"
            ) from None

    def _last_commit(self, ice: Table) -> Commit:
        """The commit just made on `ice`: the newest snapshot of the log, or the newest snapshot added when staged."""
        log = ice.metadata.snapshot_log
        if self._branch is None:
            return _commit(ice.metadata.snapshots[-1], len(log) + 1)
        snapshot = ice.snapshot_by_id(log[-1].snapshot_id)
        assert snapshot is not None, "a commit always leaves its snapshot in the log"
        return _commit(snapshot, len(log))
