"""A live catalog service with its Iceberg REST API over tables the pipelines' Iceberg store wrote."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog

from catalog.api import create_app
from catalog.iceberg import iceberg_router
from catalog.service import CatalogService
from catalog.testing import serve_in_thread
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.adapters.iceberg.catalog import open_sql_catalog
from pipelines.core.names import TableId
from tests.catalog.conftest import Seeded

TABLES = (
    "orders.bronze_order_placed",
    "orders.silver_orders",
    "orders.quarantine",
    "orders.daily_revenue",
    "orders.customers",
    "shipping.deliveries",
)
SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False, metadata={"PARQUET:field_id": "1"}),
        pa.field("amount", pa.float64(), metadata={"PARQUET:field_id": "2"}),
    ]
)


def rows(*ids: int) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()), "amount": pa.array([i * 1.5 for i in ids])}, schema=SCHEMA)


@dataclass
class Lake:
    """The served lake: base URL of the Iceberg API, the catalog service, tokens and the pipelines' store."""

    uri: str
    service: CatalogService
    tokens: dict[str, str]
    store: IcebergTableStore
    sql: SqlCatalog

    def rest(self, principal: str, **properties: str) -> RestCatalog:
        """pyiceberg's REST client as `principal` (its catalog token), or with `properties` instead."""
        return RestCatalog(principal, uri=self.uri, **(properties or {"token": self.tokens[principal]}))


@pytest.fixture
def lake(tmp_path: Path, seeded: Seeded) -> Iterator[Lake]:
    """orders' bronze, silver, quarantine and two gold tables, shipping's gold table, three rows each."""
    warehouse = tmp_path / "iceberg"
    store = IcebergTableStore(warehouse)
    for name in TABLES:
        table = TableId.parse(name)
        store.ensure_table(table, SCHEMA)
        store.append(table, rows(1, 2, 3))
    sql = open_sql_catalog(f"sqlite:///{warehouse}/catalog.db", warehouse.as_uri())
    app = create_app(seeded.service, [iceberg_router(sql)])
    with serve_in_thread(app) as url:
        yield Lake(f"{url}/iceberg", seeded.service, seeded.tokens, store, sql)
