"""How services find the store of a table: one TableStore per (domain, layer)."""

from __future__ import annotations

from typing import Protocol

from pipelines.core.names import Layer
from pipelines.ports.table_store import TableStore


class Tables(Protocol):
    """Resolves the store of a domain's layer (the domain spec picks the format)."""

    def store_for(self, domain: str, layer: Layer, product: str | None = None) -> TableStore: ...
