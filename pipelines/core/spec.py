"""The declarative domain spec: what a domain owns (events, entities, products) and where it lives."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from pipelines.core.commits import TableFormat
from pipelines.core.names import Layer

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
FunctionName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventSpec(_Strict):
    """An event type of the domain, described by a protobuf message."""

    message: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")]
    description: str = ""


class EntitySpec(_Strict):
    """A silver entity built from the domain's events by a pure transform."""

    events: list[Identifier] = Field(min_length=1)
    transform: FunctionName
    description: str = ""


class ProductSpec(_Strict):
    """A gold data product: published, contracted and registered in the catalog.

    `inputs` name what the transform reads: `silver.<entity>` of this domain or
    `<domain>.<product>`, a published product of another domain.
    """

    description: str
    inputs: list[str] = Field(min_length=1)
    transform: FunctionName
    freshness_hours: float = Field(default=24, gt=0)
    format: TableFormat | None = None
    public: bool = False
    tags: list[str] = []


class TableFormats(_Strict):
    """The table format of each layer."""

    bronze: TableFormat = TableFormat.ICEBERG
    silver: TableFormat = TableFormat.ICEBERG
    gold: TableFormat = TableFormat.ICEBERG

    def for_layer(self, layer: Layer) -> TableFormat:
        return self.gold if layer is Layer.GOLD else self.silver if layer is Layer.SILVER else self.bronze


class DomainSpec(_Strict):
    """A domain: its owner, events, silver entities and gold products."""

    name: Identifier
    owner: str = Field(min_length=1)
    contact: str | None = None
    description: str = ""
    schemas: str = Field(description="folder under schemas/ holding the domain's .proto files")
    formats: TableFormats = TableFormats()
    events: dict[Identifier, EventSpec] = Field(min_length=1)
    entities: dict[Identifier, EntitySpec] = {}
    products: dict[Identifier, ProductSpec] = {}
    generator: FunctionName | None = None
    quarantine_rate_max: float = Field(default=0.05, ge=0, le=1)
    schedule: str = "0 * * * *"
    on_unframed: Literal["fail", "quarantine"] = "fail"

    @model_validator(mode="after")
    def _references_resolve(self) -> DomainSpec:
        for entity, spec in self.entities.items():
            for event in spec.events:
                if event not in self.events:
                    raise ValueError(f"entities.{entity}.events: unknown event {event!r}")
        for product, pspec in self.products.items():
            for ref in pspec.inputs:
                layer, dot, name = ref.partition(".")
                if not dot:
                    raise ValueError(
                        f"products.{product}.inputs: {ref!r} must be silver.<entity> or <domain>.<product>"
                    )
                if layer == "silver" and name not in self.entities:
                    raise ValueError(f"products.{product}.inputs: unknown entity {name!r}")
                if layer == "bronze":
                    raise ValueError(
                        f"products.{product}.inputs: {ref!r}: products read silver or other products, not bronze"
                    )
        return self
