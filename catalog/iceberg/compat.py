"""The private pyiceberg API the REST catalog relies on, in one place (each use says why).

A REST commit must do what `SqlCatalog.commit_table` does — check the requirements against the
current metadata, apply the updates with `update_table_metadata`, write the new metadata file and
move the catalog's pointer only if it still points where it did — but for several tables in one
database transaction (`POST /v1/transactions/commit` is all or nothing). pyiceberg has no public
multi-table commit, so this module stages each table with `Catalog._update_and_stage_table` and
moves the pointers itself with `SqlCatalog`'s ORM table. Replace it with a public API once pyiceberg
has one; `tests/catalog/test_iceberg_compat.py` pins the behaviour relied on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchNamespaceError, NoSuchTableError
from pyiceberg.table import CommitTableResponse, StagedTable, Table
from pyiceberg.table.update import AssertCreate, TableRequirement, TableUpdate
from pyiceberg.typedef import Identifier
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class TableChange:
    """The requirements and updates of one table in a commit."""

    identifier: Identifier
    requirements: tuple[TableRequirement, ...]
    updates: tuple[TableUpdate, ...]


@dataclass(frozen=True)
class _Staged:
    change: TableChange
    current: Table | None
    staged: StagedTable

    @property
    def changed(self) -> bool:
        return self.current is None or self.staged.metadata != self.current.metadata


def commit_tables(catalog: SqlCatalog, changes: Sequence[TableChange]) -> list[CommitTableResponse]:
    """Commit every change or none: requirements checked, metadata files written, pointers moved in one transaction.

    Args:
        catalog: the SQL catalog holding the tables.
        changes: one per table; a table that does not exist yet needs an `assert-create` requirement.

    Returns:
        The new metadata and its location, in the order of `changes`.

    Raises:
        NoSuchTableError: a table does not exist (and its change does not create it).
        NoSuchNamespaceError: a table would be created in a namespace that does not exist.
        CommitFailedException: a requirement does not hold, or another commit moved a table first;
            nothing changed.
        ValueError: an update cannot be applied to the table's metadata.
    """
    staged = [_stage(catalog, change) for change in changes]
    written: list[StagedTable] = []
    try:
        for item in staged:
            if item.changed:
                # Catalog._write_metadata: pyiceberg's serialiser of a metadata file (ToOutputFile.table_metadata).
                catalog._write_metadata(item.staged.metadata, item.staged.io, item.staged.metadata_location)
                written.append(item.staged)
        with Session(catalog.engine) as session, session.begin():
            for item in staged:
                if item.changed:
                    _move_pointer(catalog, session, item)
    except BaseException:
        for table in written:
            table.io.delete(table.metadata_location)
        raise
    return [_response(i.staged if i.changed else i.current) for i in staged]


def _response(table: Table | None) -> CommitTableResponse:
    assert table is not None, "an unchanged table is an existing one"
    return CommitTableResponse.model_validate(
        {"metadata": table.metadata, "metadata-location": table.metadata_location}
    )


def _stage(catalog: SqlCatalog, change: TableChange) -> _Staged:
    try:
        current: Table | None = catalog.load_table(change.identifier)
    except NoSuchTableError:
        if not any(isinstance(r, AssertCreate) for r in change.requirements):
            raise
        current = None
        namespace = Catalog.namespace_from(change.identifier)
        if not catalog.namespace_exists(namespace):
            raise NoSuchNamespaceError(f"Namespace does not exist: {Catalog.namespace_to_string(namespace)}") from None
    # Catalog._update_and_stage_table: validates the requirements against the current metadata (raising
    # CommitFailedException), applies the updates (update_table_metadata) and names the next metadata file.
    try:
        staged = catalog._update_and_stage_table(current, change.identifier, change.requirements, change.updates)
    except (StopIteration, KeyError, IndexError) as exc:
        # update_table_metadata looks up the current schema, spec and sort order by id; updates that leave
        # one missing (a create without `add-spec`) fail there instead of with a ValueError.
        what = Catalog.namespace_to_string(change.identifier)
        raise ValueError(f"{what}: the updates leave the table's metadata incomplete ({exc!r})") from exc
    return _Staged(change, current, staged)


def _move_pointer(catalog: SqlCatalog, session: Session, item: _Staged) -> None:
    namespace = Catalog.namespace_to_string(Catalog.namespace_from(item.change.identifier))
    name = Catalog.table_name_from(item.change.identifier)
    location = item.staged.metadata_location
    if item.current is None:
        # SqlCatalog._create_table_row: the row's columns depend on the catalog's schema version (v0/v1).
        row = catalog._create_table_row(namespace, name, location)
        try:
            session.execute(insert(IcebergTables).values(**row))
        except IntegrityError as exc:
            raise CommitFailedException(f"Table {namespace}.{name} was created by another commit first") from exc
        return
    moved = session.execute(
        update(IcebergTables)
        .where(
            IcebergTables.catalog_name == catalog.name,
            IcebergTables.table_namespace == namespace,
            IcebergTables.table_name == name,
            IcebergTables.metadata_location == item.current.metadata_location,
        )
        .values(metadata_location=location, previous_metadata_location=item.current.metadata_location)
    )
    if moved.rowcount < 1:  # type: ignore[attr-defined]
        raise CommitFailedException(f"Table {namespace}.{name} was updated by another commit first")
