"""The catalog service's Iceberg REST endpoint, plugged in by entry point over the pipelines' SQL catalog.

`catalog.iceberg` serves the protocol and applies the grants; this side knows where the tables are:
the Iceberg catalog database and warehouse of the settings (`MESHLAKE_ICEBERG_CATALOG_URI`, default
SQLite under `<home>/iceberg`), the very catalog the pipelines commit to.
"""

from __future__ import annotations

from fastapi import APIRouter
from pyiceberg.catalog.sql import SqlCatalog

from catalog.iceberg import iceberg_router
from pipelines.adapters.iceberg.catalog import open_sql_catalog
from pipelines.settings import Settings


def sql_catalog_from_env() -> SqlCatalog:
    """The pipelines' SQL catalog, as the settings name it."""
    settings = Settings.load()
    warehouse = settings.iceberg_dir
    warehouse.mkdir(parents=True, exist_ok=True)
    return open_sql_catalog(settings.iceberg_catalog_uri or f"sqlite:///{warehouse}/catalog.db", warehouse.as_uri())


def router_from_env() -> APIRouter:
    """The `/iceberg` router on the settings' catalog (opened at the first request): the catalog service's hook."""
    return iceberg_router(sql_catalog_from_env)
