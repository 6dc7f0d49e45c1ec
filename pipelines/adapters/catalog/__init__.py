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
        catalog_url: the setting `catalog_url`; None or empty means embedded.
        token: the setting `catalog_token`, required with `catalog_url`.
        db_url: the catalog database for embedded mode (the settings' `catalog_db_url`).

    Raises:
        ValueError: a URL without a token, or embedded mode without a database.
    """
    if catalog_url:
        if not token:
            raise ValueError("MESHLAKE_CATALOG_TOKEN is required when MESHLAKE_CATALOG_URL is set")
        return HttpProductRegistry(catalog_url, token)
    if not db_url:
        raise ValueError("the embedded catalog needs its database URL (the settings' catalog_db_url)")
    return EmbeddedProductRegistry(db_url, principal)
