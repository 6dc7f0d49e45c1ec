"""The ProductRegistry port: how pipelines tell the catalog about data products and their versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ProductVersion:
    """One materialisation of a gold data product."""

    product: str  # "<domain>.<product>"
    version: int  # Iceberg snapshot id or Delta version
    row_count: int
    schema_hash: str
    run_id: str
    table_format: str
    location: str
    created_at_ms: int
    extra: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class ProductRegistry(Protocol):
    """Register domains, products and product versions in the catalog."""

    def register_domain(self, name: str, owner: str, contact: str | None = None) -> None: ...

    def register_product(self, product: str, description: Mapping[str, Any]) -> None:
        """Create or update a product's description (owner, schema, contract, SLA, lineage...)."""
        ...

    def register_version(self, version: ProductVersion) -> None:
        """Record a version; re-registering the same version changes nothing."""
        ...

    def readable_products(self, principal: str) -> Sequence[str]:
        """The products `principal` may read."""
        ...
