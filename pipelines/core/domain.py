"""A loaded domain: its validated spec plus the pure functions its spec names."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from pipelines.core.names import TableId
from pipelines.core.spec import DomainSpec

Transform = Callable[..., pl.DataFrame]
Generator = Callable[..., Iterator[tuple[str, Any]]]


@dataclass(frozen=True)
class Domain:
    """A domain ready to run: spec, transforms by name, optional event generator."""

    spec: DomainSpec
    transforms: Mapping[str, Transform]
    generator: Generator | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def bronze_table(self, event: str) -> TableId:
        return TableId.bronze(self.name, event)

    def silver_table(self, entity: str) -> TableId:
        return TableId.silver(self.name, entity)

    def product_table(self, product: str) -> TableId:
        return TableId(self.name, product)

    def quarantine_table(self) -> TableId:
        return TableId.quarantine(self.name)

    def input_table(self, ref: str) -> TableId:
        """The table behind a product input: `silver.<entity>` or `<domain>.<product>`."""
        layer, _, name = ref.partition(".")
        return self.silver_table(name) if layer == "silver" else TableId(layer, name)
