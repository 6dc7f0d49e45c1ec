"""ProductRegistry adapters on the catalog service: over HTTP, or embedded in-process on its database."""

from pipelines.adapters.catalog.embedded_registry import EmbeddedProductRegistry
from pipelines.adapters.catalog.http_registry import CatalogProductRegistry, HttpProductRegistry

__all__ = ["CatalogProductRegistry", "EmbeddedProductRegistry", "HttpProductRegistry"]
