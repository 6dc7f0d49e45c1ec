"""The catalog service's Iceberg REST endpoint, plugged in by entry point over the pipelines' SQL catalog.

`catalog.iceberg` serves the protocol and applies the grants; this side knows where the tables are:
the Iceberg catalog database and warehouse of the settings (`iceberg_catalog_uri`, default SQLite
under the warehouse's `iceberg` folder), the very catalog the pipelines commit to, and the storage
settings clients get with each table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from fastapi import APIRouter, FastAPI
from pyiceberg.catalog.sql import SqlCatalog

from catalog.api import create_app
from catalog.iceberg import VendedStorage, iceberg_router
from catalog.service import CatalogService
from pipelines.adapters.iceberg.catalog import open_sql_catalog
from pipelines.adapters.storage import Location
from pipelines.bootstrap import Runtime
from pipelines.settings import S3Key, Settings

SECRET_PROPERTIES = frozenset({"s3.access-key-id", "s3.secret-access-key", "s3.session-token"})


def _key_properties(key: S3Key) -> dict[str, str]:
    return {"s3.access-key-id": key.access_key_id, "s3.secret-access-key": key.secret_access_key}


def vended_storage(
    warehouse: Location, reader: S3Key | None = None, writers: Mapping[str, S3Key] | None = None
) -> VendedStorage:
    """What `loadTable` tells clients about the warehouse's storage.

    Endpoint, region and addressing go to everyone (also as `s3.path-style-access`, the name Java's
    S3FileIO and DuckDB read); `reader`, a read-only key, to principals reading another domain's
    tables; `writers[principal]`, a key that writes only its domain's tables, to that principal on its
    own namespace. The warehouse's own credentials go to no one.
    """
    common = {k: v for k, v in warehouse.iceberg_properties().items() if k not in SECRET_PROPERTIES}
    if "s3.force-virtual-addressing" in common:
        common["s3.path-style-access"] = str(common["s3.force-virtual-addressing"] == "false").lower()
    return VendedStorage(
        common=common,
        reader=_key_properties(reader) if reader is not None else {},
        writers={principal: _key_properties(key) for principal, key in (writers or {}).items()},
    )


@dataclass(frozen=True)
class IcebergBacking:
    """What the REST API serves: the pipelines' SQL catalog and the storage settings handed to clients."""

    catalog: SqlCatalog
    storage: VendedStorage

    @classmethod
    def of(cls, settings: Settings) -> IcebergBacking:
        """The catalog and warehouse the runtime's Iceberg store opens (a local folder or an object store, with
        its storage properties); clients get the `s3_reader_*` key and the `s3_writer_keys` as `vended_storage` says."""
        runtime = Runtime(settings, domains=[])
        warehouse = runtime.warehouse / "iceberg"
        warehouse.check()
        catalog = open_sql_catalog(runtime.iceberg_catalog_uri, warehouse.as_uri(), warehouse.iceberg_properties())
        return cls(catalog, vended_storage(warehouse, settings.s3_reader_key, settings.s3_writer_key_map))


def rest_app(settings: Settings, service: CatalogService) -> FastAPI:
    """The catalog service's app with the Iceberg REST API on the settings' catalog and storage."""
    backing = IcebergBacking.of(settings)
    return create_app(service, [iceberg_router(lambda: backing.catalog, lambda: backing.storage)])


def router_from_env() -> APIRouter:
    """The `/iceberg` router on the settings' catalog and storage (read at the first request): the service's hook."""
    backing = cache(lambda: IcebergBacking.of(Settings.load()))
    return iceberg_router(lambda: backing().catalog, lambda: backing().storage)
