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

    def history_table(self, entity: str) -> TableId:
        """The SCD2 history of an entity: `<domain>.silver_<entity>_history`."""
        return TableId(self.name, f"silver_{entity}_history")

    def product_table(self, product: str) -> TableId:
        return TableId(self.name, product)

    def quarantine_table(self) -> TableId:
        return TableId.quarantine(self.name)

    def event_log_table(self) -> TableId:
        return TableId.event_log(self.name)

    def input_table(self, ref: str) -> TableId:
        """The table behind a product input: `silver.<entity>` or `<domain>.<product>`."""
        layer, _, name = ref.partition(".")
        return self.silver_table(name) if layer == "silver" else TableId(layer, name)

    def function_names(self) -> dict[str, str]:
        """Every function the spec names, by where it names it (`entities.orders.events.order_placed`)."""
        return spec_functions(self.spec)


def spec_functions(spec: DomainSpec) -> dict[str, str]:
    """Every transform function a spec names, keyed by the spec path that names it."""
    names: dict[str, str] = {}
    for entity, espec in spec.entities.items():
        names |= {f"entities.{entity}.events.{e}": f for e, f in espec.events.items()}
        if espec.transform:
            names[f"entities.{entity}.transform"] = espec.transform
    names |= {f"products.{p}.transform": s.transform for p, s in spec.products.items()}
    return names
