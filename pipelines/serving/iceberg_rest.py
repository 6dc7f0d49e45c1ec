"""The catalog service's Iceberg REST endpoint, plugged in by entry point over the pipelines' SQL catalog.

`catalog.iceberg` serves the protocol and applies the grants; this side knows where the tables are:
the Iceberg catalog database and warehouse of the settings (`MESHLAKE_ICEBERG_CATALOG_URI`, default
SQLite under `<home>/iceberg`), the very catalog the pipelines commit to.
"""

from __future__ import annotations

from fastapi import APIRouter
from pyiceberg.catalog.sql import SqlCatalog

from catalog.iceberg import VendedStorage, iceberg_router
from pipelines.adapters.iceberg.catalog import open_sql_catalog
from pipelines.adapters.storage import Location
from pipelines.bootstrap import Runtime
from pipelines.settings import Settings

SECRET_PROPERTIES = frozenset({"s3.access-key-id", "s3.secret-access-key", "s3.session-token"})


def vended_storage(warehouse: Location, reader: Location | None = None) -> VendedStorage:
    """What `loadTable` tells clients about the warehouse's storage.

    Endpoint, region and addressing go to everyone (also as `s3.path-style-access`, the name Java's
    S3FileIO and DuckDB read); the warehouse's own key to the namespace's owner; `reader`'s key (a
    location opened with read-only credentials), when given, to everyone else.
    """
    properties = warehouse.iceberg_properties()
    common = {k: v for k, v in properties.items() if k not in SECRET_PROPERTIES}
    if "s3.force-virtual-addressing" in common:
        common["s3.path-style-access"] = str(common["s3.force-virtual-addressing"] == "false").lower()
    readers = reader.iceberg_properties() if reader is not None else {}
    return VendedStorage(
        common=common,
        writer={k: v for k, v in properties.items() if k in SECRET_PROPERTIES},
        reader={k: v for k, v in readers.items() if k in SECRET_PROPERTIES},
    )


def sql_catalog_from_env() -> SqlCatalog:
    """The pipelines' SQL catalog, as the settings name it: the catalog and warehouse the runtime's Iceberg
    store opens (a local folder or an object store, with its storage properties)."""
    runtime = Runtime(Settings.load(), domains=[])
    warehouse = runtime.warehouse / "iceberg"
    warehouse.check()
    return open_sql_catalog(runtime.iceberg_catalog_uri, warehouse.as_uri(), warehouse.iceberg_properties())


def router_from_env() -> APIRouter:
    """The `/iceberg` router on the settings' catalog (opened at the first request): the catalog service's hook."""
    return iceberg_router(sql_catalog_from_env)
