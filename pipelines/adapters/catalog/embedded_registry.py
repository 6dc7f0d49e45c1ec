"""EmbeddedProductRegistry: the ProductRegistry port on the catalog's service layer, in-process, no server."""

from __future__ import annotations

from catalog.local import LocalCatalog
from catalog.model import Principal, PrincipalKind
from catalog.service import CatalogService
from pipelines.adapters.catalog.http_registry import CatalogProductRegistry


class EmbeddedProductRegistry(CatalogProductRegistry):
    """Registers products directly in the catalog database, under the same rules as the HTTP API.

    Args:
        db_url: the catalog database (`sqlite:///…/catalog.db`, `postgresql+psycopg://…`, or `sqlite://`
            for an in-memory catalog): the settings' `catalog_db_url`.
        principal: who registers: the domain name for a domain's pipelines.
        kind: `domain` (default), `reader` or `admin`.
    """

    def __init__(self, db_url: str, principal: str, kind: str = "domain") -> None:
        service = CatalogService.open(db_url)
        super().__init__(LocalCatalog(service, Principal(name=principal, kind=PrincipalKind(kind))))
