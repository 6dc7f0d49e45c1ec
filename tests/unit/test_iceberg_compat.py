"""Pins every pyiceberg private API `pipelines.adapters.iceberg.compat` relies on: an upgrade that changes
one fails here, naming it, instead of deep inside a commit."""

from __future__ import annotations

import inspect
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.manifest import ManifestWriterV2
from pyiceberg.table import Table, Transaction
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _FastAppendFiles, _ManifestMergeManager, _OverwriteFiles, _SnapshotProducer

from pipelines.adapters.iceberg import compat
from pipelines.adapters.iceberg.catalog import open_sql_catalog
from pipelines.adapters.iceberg.schema_ids import arrow_schema
from pipelines.adapters.iceberg.transaction import write_rows

PRIVATE_HOOKS = [
    (Transaction, "_register_snapshot_producer", "SingleAttemptTransaction keeps its producers from the retry"),
    (Transaction, "_stage", "stage_updates adds schema evolution updates with their requirements"),
    (_SnapshotProducer, "_clean_all_uncommitted", "SingleAttemptTransaction.discard removes a lost commit's files"),
    (_SnapshotProducer, "_process_manifests", "MergingAppend/MergingOverwrite merge manifests"),
    (_SnapshotProducer, "_manifests", "RowLevelOverwrite adds a delete manifest"),
    (_SnapshotProducer, "_summary", "RowLevelOverwrite counts delete files"),
    (_FastAppendFiles, "_existing_manifests", "RowLevelOverwrite keeps manifests unread"),
    (_OverwriteFiles, "_existing_manifests", "RowLevelOverwrite rewrites manifests of deleted files"),
    (_OverwriteFiles, "_deleted_entries", "RowLevelOverwrite skips entries when it deletes no file"),
    (ManifestWriterV2, "_meta", "_DeleteManifestWriter marks its content"),
    (SqlCatalog, "_convert_orm_to_iceberg", "ParsedOnceSqlCatalog parses a metadata file once"),
    (SqlCatalog, "_load_file_io", "ParsedOnceSqlCatalog builds tables as pyiceberg does"),
    (SqlCatalog, "_iceberg_type_filter", "ParsedOnceSqlCatalog.metadata_location finds the row load_table does"),
]


@pytest.mark.parametrize(
    ("owner", "name", "use"), PRIVATE_HOOKS, ids=[f"{o.__name__}.{n}" for o, n, _ in PRIVATE_HOOKS]
)
def test_each_private_hook_compat_overrides_or_calls_exists(owner: type, name: str, use: str) -> None:
    assert hasattr(owner, name), (
        f"pyiceberg's {owner.__name__}.{name} is gone: {use} (pipelines/adapters/iceberg/compat.py)"
    )


def test_the_manifest_merge_manager_takes_what_compat_passes() -> None:
    parameters = list(inspect.signature(_ManifestMergeManager.__init__).parameters)[1:]
    assert parameters == ["target_size_bytes", "min_count_to_merge", "merge_enabled", "snapshot_producer"]


@pytest.fixture
def table(tmp_path: Path) -> Table:
    catalog = open_sql_catalog(f"sqlite:///{tmp_path / 'catalog.db'}", (tmp_path / "warehouse").as_uri())
    catalog.create_namespace("ns")
    return catalog.create_table(("ns", "t"), pa.schema([pa.field("n", pa.int64())]))


def rows(n: int) -> pa.Table:
    return pa.table({"n": pa.array([n], pa.int64())})


def test_a_transaction_that_lost_a_race_fails_once_and_leaves_no_manifest(table: Table, tmp_path: Path) -> None:
    loser = table.catalog.load_table(("ns", "t"))
    table.append(rows(1))  # the winner
    metadata = tmp_path / "warehouse" / "ns" / "t" / "metadata"
    before = {p.name for p in metadata.iterdir()}
    tx = compat.SingleAttemptTransaction(loser)
    appending = compat.MergingAppend(Operation.APPEND, tx, compat.table_of(tx).io)
    with pytest.raises(CommitFailedException), tx, appending as producer:
        for data_file in write_rows(loser, rows(2)):
            producer.append_data_file(data_file)
    tx.discard()
    assert {p.name for p in metadata.iterdir()} == before  # its manifest and manifest list are removed
    assert table.catalog.load_table(("ns", "t")).scan().to_arrow().column("n").to_pylist() == [1]


def test_the_cached_metadata_follows_staged_updates(table: Table) -> None:
    tx = compat.CachedTransaction(table)
    first = tx.table_metadata
    assert tx.table_metadata is first  # cached while nothing is staged
    tx.set_properties({"meshlake.test": "1"})
    assert tx.table_metadata is not first
    assert tx.table_metadata.properties["meshlake.test"] == "1"


def test_a_producer_of_no_branch_stages_a_snapshot_on_main_that_moves_no_ref(table: Table) -> None:
    """`IcebergTableStore.staged` relies on pyiceberg's branch None: a snapshot whose parent is `main`'s head,
    added to the metadata with no ref and no entry in the snapshot log (what readers and history follow)."""
    table.append(rows(1))
    main = table.current_snapshot()
    assert main is not None
    with compat.CachedTransaction(table, branch=None) as tx:
        appending = compat.MergingAppend(Operation.APPEND, tx, compat.table_of(tx).io, branch=tx.branch)
        with appending as producer:
            for data_file in write_rows(table, rows(2)):
                producer.append_data_file(data_file)
    staged = table.metadata.snapshots[-1]
    assert staged.parent_snapshot_id == main.snapshot_id
    assert table.current_snapshot() == main and set(table.metadata.refs) == {"main"}
    assert staged.snapshot_id not in {entry.snapshot_id for entry in table.metadata.snapshot_log}
    assert sorted(table.scan(snapshot_id=staged.snapshot_id).to_arrow().column("n").to_pylist()) == [1, 2]


def test_the_metadata_location_is_the_one_load_table_gives_and_follows_every_commit(table: Table) -> None:
    catalog = table.catalog
    assert isinstance(catalog, compat.ParsedOnceSqlCatalog)
    assert catalog.metadata_location(("ns", "t")) == table.metadata_location
    table.append(rows(1))
    moved = catalog.metadata_location(("ns", "t"))
    assert moved == table.metadata_location == catalog.load_table(("ns", "t")).metadata_location
    catalog.create_table(("ns", "other"), pa.schema([pa.field("n", pa.int64())]))
    assert catalog.metadata_location(("ns", "t")) == moved
    assert catalog.metadata_location(("ns", "missing")) is None


def test_the_parquet_writer_passes_the_extra_writer_arguments_to_pyarrow(table: Table, tmp_path: Path) -> None:
    path = tmp_path / "offsets.parquet"
    writer = compat.parquet_writer(
        table.io.new_output(str(path)),
        table.metadata.schema(),
        {},
        {"column_encoding": {"n": "DELTA_BINARY_PACKED"}, "use_dictionary": False},
    )
    writer.write(pa.table({"n": pa.array(range(1000), pa.int64())}).cast(arrow_schema(table.metadata.schema())))
    writer.close()
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(0)
    assert "DELTA_BINARY_PACKED" in chunk.encodings, (
        "pyiceberg's ParquetFormatWriter._parquet_writer_kwargs no longer reaches pyarrow: compat.parquet_writer "
        f"lost the per-column encodings (the column has {chunk.encodings})"
    )
