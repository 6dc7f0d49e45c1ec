"""Fixture: the catalog service's Iceberg REST API over the SQL catalog of a warehouse folder, on a free port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from catalog.api import create_app
from catalog.iceberg import iceberg_router
from catalog.service import CatalogService
from catalog.testing import serve_in_thread
from pipelines.adapters.iceberg.catalog import open_sql_catalog


@pytest.fixture
def serve_iceberg_rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Path], dict[str, str]]]:
    """Serves `<warehouse>/catalog.db` (the SQL catalog `IcebergTableStore(warehouse)` opens) as Iceberg REST.

    Returns `RestCatalog` properties: the `uri` and an admin `token` (the pipelines write every domain).
    """
    with ExitStack() as stack:

        def serve(warehouse: Path) -> dict[str, str]:
            warehouse.mkdir(parents=True, exist_ok=True)
            sql = open_sql_catalog(f"sqlite:///{warehouse}/catalog.db", warehouse.as_uri())
            stack.callback(sql.engine.dispose)
            service = CatalogService.open(f"sqlite:///{tmp_path_factory.mktemp('catalog-service')}/catalog.db")
            stack.callback(service.close)
            token = service.create_token("admin", "admin", actor="test")
            url = stack.enter_context(serve_in_thread(create_app(service, [iceberg_router(sql)])))
            return {"uri": f"{url}/iceberg", "token": token}

        yield serve
