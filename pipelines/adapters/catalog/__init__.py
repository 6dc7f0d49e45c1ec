"""ProductRegistry adapters on the catalog service: over HTTP, or embedded in-process on its database."""

from __future__ import annotations

from pipelines.adapters.catalog.embedded_registry import EmbeddedProductRegistry
from pipelines.adapters.catalog.http_registry import CatalogProductRegistry, HttpProductRegistry

__all__ = ["CatalogProductRegistry", "EmbeddedProductRegistry", "HttpProductRegistry", "make_registry"]


def make_registry(
    principal: str, catalog_url: str | None = None, token: str | None = None, db_url: str | None = None
) -> CatalogProductRegistry:
    """The HTTP registry when a catalog URL is configured, else the embedded one on `db_url`.

    Args:
        principal: the domain registering (embedded mode; over HTTP the token decides who you are).
        catalog_url: `MESHLAKE_CATALOG_URL`; None or empty means embedded.
        token: `MESHLAKE_CATALOG_TOKEN`, required with `catalog_url`.
        db_url: the catalog database for embedded mode (default `$MESHLAKE_HOME/catalog/catalog.db`).

    Raises:
        ValueError: a URL without a token.
    """
    if catalog_url:
        if not token:
            raise ValueError("MESHLAKE_CATALOG_TOKEN is required when MESHLAKE_CATALOG_URL is set")
        return HttpProductRegistry(catalog_url, token)
    return EmbeddedProductRegistry(db_url, principal)
