"""Pins the private pyiceberg API that `catalog.iceberg.compat` uses, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchNamespaceError, NoSuchTableError
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER
from pyiceberg.table.update import (
    AddPartitionSpecUpdate,
    AddSchemaUpdate,
    AddSortOrderUpdate,
    AssertCreate,
    AssertCurrentSchemaId,
    AssignUUIDUpdate,
    SetCurrentSchemaUpdate,
    SetDefaultSortOrderUpdate,
    SetDefaultSpecUpdate,
    SetLocationUpdate,
    SetPropertiesUpdate,
    UpgradeFormatVersionUpdate,
)
from pyiceberg.types import LongType, NestedField
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from catalog.iceberg.compat import TableChange, commit_tables

SCHEMA = Schema(NestedField(1, "id", LongType(), required=True))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The catalog database: a SQLite file, or a fresh database on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/catalog.db"
        return
    server = request.getfixturevalue("pg_server")
    name = f"iceberg_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sql(database: str, tmp_path: Path) -> Iterator[SqlCatalog]:
    catalog = SqlCatalog("meshlake", uri=database, warehouse=(tmp_path / "wh").as_uri())
    catalog.create_namespace("orders")
    catalog.create_table(("orders", "a"), SCHEMA)
    catalog.create_table(("orders", "b"), SCHEMA)
    yield catalog
    catalog.engine.dispose()


def _props(key: str) -> tuple[SetPropertiesUpdate]:
    return (SetPropertiesUpdate(updates={key: "yes"}),)


# The `type: ignore[call-arg]`s of this file: pyiceberg's models set populate_by_name, so they take field names
# (`schema_id`), while mypy sees only their aliases (`schema-id`).
def _schema_is(schema_id: int) -> tuple[AssertCurrentSchemaId]:
    return (AssertCurrentSchemaId(current_schema_id=schema_id),)  # type: ignore[call-arg]


def test_every_table_changes_in_one_commit(sql: SqlCatalog) -> None:
    before = sql.load_table(("orders", "a")).metadata_location
    responses = commit_tables(
        sql,
        [TableChange(("orders", "a"), _schema_is(0), _props("x")), TableChange(("orders", "b"), (), _props("y"))],
    )
    assert [r.metadata.properties for r in responses] == [{"x": "yes"}, {"y": "yes"}]
    a = sql.load_table(("orders", "a"))
    assert (a.metadata_location, a.properties) == (responses[0].metadata_location, {"x": "yes"})
    assert a.metadata_location != before
    assert sql.load_table(("orders", "b")).properties == {"y": "yes"}


def test_one_failed_requirement_changes_no_table(sql: SqlCatalog) -> None:
    locations = {name: sql.load_table(("orders", name)).metadata_location for name in "ab"}
    with pytest.raises(CommitFailedException):
        commit_tables(
            sql,
            [TableChange(("orders", "a"), (), _props("x")), TableChange(("orders", "b"), _schema_is(7), _props("y"))],
        )
    assert {name: sql.load_table(("orders", name)).metadata_location for name in "ab"} == locations


def test_a_commit_with_assert_create_creates_the_table_once(sql: SqlCatalog, tmp_path: Path) -> None:
    create = TableChange(
        ("orders", "c"),
        (AssertCreate(),),
        (
            AssignUUIDUpdate(uuid=uuid.UUID("9c12d441-03fe-4693-9a96-a0705ddf69c1")),
            UpgradeFormatVersionUpdate(format_version=2),  # type: ignore[call-arg]
            AddSchemaUpdate(schema=SCHEMA),
            SetCurrentSchemaUpdate(schema_id=-1),  # type: ignore[call-arg]
            SetLocationUpdate(location=(tmp_path / "wh" / "orders" / "c").as_uri()),
            AddPartitionSpecUpdate(spec=UNPARTITIONED_PARTITION_SPEC),
            SetDefaultSpecUpdate(spec_id=-1),  # type: ignore[call-arg]
            AddSortOrderUpdate(sort_order=UNSORTED_SORT_ORDER),  # type: ignore[call-arg]
            SetDefaultSortOrderUpdate(sort_order_id=-1),  # type: ignore[call-arg]
        ),
    )
    incomplete = TableChange(create.identifier, create.requirements, create.updates[:5])
    with pytest.raises(ValueError, match="incomplete"):
        commit_tables(sql, [incomplete])
    (response,) = commit_tables(sql, [create])
    assert sql.load_table(("orders", "c")).metadata_location == response.metadata_location
    with pytest.raises(CommitFailedException):
        commit_tables(sql, [create])


def test_a_missing_table_or_namespace_is_named(sql: SqlCatalog) -> None:
    with pytest.raises(NoSuchTableError):
        commit_tables(sql, [TableChange(("orders", "nothing"), (), _props("x"))])
    with pytest.raises(NoSuchNamespaceError):
        commit_tables(sql, [TableChange(("nowhere", "c"), (AssertCreate(),), ())])
