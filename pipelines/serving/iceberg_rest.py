"""The catalog service's Iceberg REST endpoint, plugged in by entry point over the pipelines' SQL catalog.

`catalog.iceberg` serves the protocol and applies the grants; this side knows where the tables are:
the Iceberg catalog database and warehouse of the settings (`iceberg_catalog_uri`, default SQLite
under the warehouse's `iceberg` folder), the very catalog the pipelines commit to, and the storage
settings clients get with each table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

from fastapi import APIRouter
from pyiceberg.catalog.sql import SqlCatalog

from catalog.iceberg import VendedStorage, iceberg_router
from pipelines.adapters.iceberg.catalog import open_sql_catalog
from pipelines.adapters.storage import Location, StorageOptions, open_location
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


@dataclass(frozen=True)
class IcebergBacking:
    """What the REST API serves: the pipelines' SQL catalog and the storage settings handed to clients."""

    catalog: SqlCatalog
    storage: VendedStorage

    @classmethod
    def of(cls, settings: Settings) -> IcebergBacking:
        """The catalog and warehouse the runtime's Iceberg store opens (a local folder or an object store, with
        its storage properties); readers get the `s3_reader_*` key when one is set."""
        runtime = Runtime(settings, domains=[])
        warehouse = runtime.warehouse / "iceberg"
        warehouse.check()
        catalog = open_sql_catalog(runtime.iceberg_catalog_uri, warehouse.as_uri(), warehouse.iceberg_properties())
        reader = None
        if settings.s3_reader_access_key_id and settings.s3_reader_secret_access_key:
            s3 = replace(
                runtime.storage_options.s3,
                access_key_id=settings.s3_reader_access_key_id,
                secret_access_key=settings.s3_reader_secret_access_key.get_secret_value(),
                session_token=None,
            )
            reader = open_location(settings.warehouse_uri, StorageOptions(s3)) / "iceberg"
        return cls(catalog, vended_storage(warehouse, reader))


def router_from_env() -> APIRouter:
    """The `/iceberg` router on the settings' catalog and storage (read at the first request): the service's hook."""
    backing = cache(lambda: IcebergBacking.of(Settings.load()))
    return iceberg_router(lambda: backing().catalog, lambda: backing().storage)
