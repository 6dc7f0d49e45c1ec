"""The SQL catalog the Iceberg store opens: pyiceberg's `SqlCatalog`, reading each metadata file once and
creating namespaces safely from several processes at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError
from pyiceberg.table import CommitTableResponse, Table
from pyiceberg.table.update import TableRequirement, TableUpdate
from pyiceberg.typedef import EMPTY_DICT, Identifier, Properties
from sqlalchemy import Engine, event
from sqlalchemy.exc import IntegrityError, OperationalError

from pipelines.adapters.iceberg.compat import ParsedOnceSqlCatalog
from pipelines.core.extras import require_sql_driver
from pipelines.ports.commit_check import MAX_COMMIT_ATTEMPTS, pause_after_lost_race

CATALOG_NAME = "meshlake"
"""The name of meshlake's catalog in the SQL catalog's tables (one database may hold several catalogs)."""


class MetadataCachingSqlCatalog(ParsedOnceSqlCatalog):
    """`SqlCatalog` that parses a table metadata file once per process, not once per `load_table`.

    An Iceberg metadata file is never rewritten (a commit writes a new file and moves the catalog's
    pointer), so a parsed file stays valid forever; pyiceberg's metadata models are frozen, so
    tables may share one. The pointer itself is still read from the database on every load, so a
    commit by another process is seen at once. Parsing grows with the table's history (every
    snapshot, schema and log entry): on the silver benchmark's table it was ~8 ms per load and a
    silver run loads each table about five times (existence, watermark, rewrite, commit, schema).
    """

    def create_namespace(self, namespace: str | Identifier, properties: Properties = EMPTY_DICT) -> None:
        """pyiceberg's, but a namespace another process creates at the same moment is `NamespaceAlreadyExistsError`.

        `SqlCatalog.create_namespace` checks that the namespace is missing, then inserts it: two
        Dagster steps of one domain, each in its own process, can both pass the check, and the
        second insert then failed on the catalog's unique key instead of finding the namespace.
        """
        try:
            super().create_namespace(namespace, properties)
        except IntegrityError as exc:
            if not self.namespace_exists(namespace):
                raise
            raise NamespaceAlreadyExistsError(f"Namespace {namespace} already exists") from exc

    def commit_table(
        self, table: Table, requirements: tuple[TableRequirement, ...], updates: tuple[TableUpdate, ...]
    ) -> CommitTableResponse:
        response = super().commit_table(table, requirements, updates)
        self.remember(response.metadata_location, response.metadata)
        return response


def open_sql_catalog(uri: str, warehouse: str, properties: Mapping[str, str] = EMPTY_DICT) -> MetadataCachingSqlCatalog:
    """Open (creating its tables if needed) meshlake's SQL catalog.

    Args:
        uri: SQLAlchemy URI of the catalog database (SQLite or `postgresql+psycopg2://...`).
        warehouse: URI of the folder or object store prefix the tables live under.
        properties: the warehouse's FileIO properties (object store endpoint and credentials).

    Raises:
        MissingExtraError: a PostgreSQL URI without the `postgres` extra installed.
    """
    require_sql_driver(uri)
    for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
        try:
            catalog = MetadataCachingSqlCatalog(CATALOG_NAME, uri=uri, warehouse=warehouse, **properties)
            break
        except OperationalError as exc:  # parallel first opens race to create the catalog's tables
            if "already exists" not in str(exc) or attempt == MAX_COMMIT_ATTEMPTS:
                raise
            pause_after_lost_race(attempt)  # the winner's tables are found on the next attempt
    _write_ahead_log(catalog.engine)
    return catalog


def _write_ahead_log(engine: Engine) -> None:
    """A SQLite catalog commits to a write-ahead log without an fsync per commit (WAL, `synchronous=NORMAL`).

    Its default (rollback journal, `synchronous=FULL`) syncs the disk on every commit: the two
    commits of the incremental silver benchmark took 3 ms on an idle disk, 25-70 ms on a busy one
    (1-6 ms with the log). The catalog stays consistent on a crash; a power
    loss may drop its last commits, which is no less than the table metadata and data files it
    points to risk (pyiceberg writes them without fsync). Other databases are left as they are.
    """
    if engine.dialect.name != "sqlite":
        return

    def on_connect(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened before the listener reopen with it


class NamedCatalogError(Exception):
    """A pyiceberg catalog named by the settings cannot be loaded; names the catalog."""


def load_named_catalog(name: str) -> Catalog:
    """A catalog configured the pyiceberg way: `.pyiceberg.yaml` or `PYICEBERG_CATALOG__<NAME>__*` (read by pyiceberg).

    Raises:
        NamedCatalogError: pyiceberg has no such catalog, or it cannot be opened.
    """
    from pyiceberg.catalog import load_catalog

    try:
        return load_catalog(name)
    except Exception as exc:  # pyiceberg raises ValueError, NotInstalledError, connection errors...
        raise NamedCatalogError(
            f"iceberg_catalog={name!r}: pyiceberg cannot load it ({exc}); configure it in .pyiceberg.yaml "
            f"or PYICEBERG_CATALOG__{name.upper()}__URI"
        ) from exc
