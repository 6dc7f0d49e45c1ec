"""The Iceberg REST Catalog API of the catalog service, enforcing the mesh's grants (see `router`)."""

from __future__ import annotations

from catalog.iceberg.router import PREFIX, iceberg_router

__all__ = ["PREFIX", "iceberg_router"]
