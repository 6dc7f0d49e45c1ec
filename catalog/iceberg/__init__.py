"""The Iceberg REST Catalog API of the catalog service, enforcing the mesh's grants (see `router`)."""

from __future__ import annotations

from catalog.iceberg.router import PREFIX, iceberg_router
from catalog.iceberg.storage import VendedStorage

__all__ = ["PREFIX", "VendedStorage", "iceberg_router"]
