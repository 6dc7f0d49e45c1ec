"""The declarative domain spec: what a domain owns (events, entities, products) and where it lives."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from pipelines.core.commits import TableFormat
from pipelines.core.engine import EngineName
from pipelines.core.expectations import Expectation, References, key_expectations
from pipelines.core.names import EVENT_LOG, Layer
from pipelines.core.proto_schema import DEFAULT_RECURSION_DEPTH

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
FunctionName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
ProductRef = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventSpec(_Strict):
    """An event type of the domain, described by a protobuf message."""

    message: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")]
    description: str = ""


class EntitySpec(_Strict):
    """A silver entity: one row per key holding the latest state its events describe.

    Each event type *owns* the columns its conform function returns (besides the key); a newer event
    of that type (by event time, then `sequence`, then event id) replaces them, an older one never
    does, so late, out-of-order and duplicated events converge to the same state as a rebuild.

    Attributes:
        events: event → pure conform function `(bronze rows) -> key + owned columns`; a list names
            the events and means `conform_<event>` for each.
        key: the entity key column; default: the `entity_key` option of its events.
        sequence: the event field breaking ties between events of the same entity and event time.
        transform: optional pure, row-wise function deriving columns (e.g. a status) from the state.
        history: also keep an SCD2 history table `silver_<entity>_history` (valid_from/valid_to/is_current).
        engine: where the entity's full rebuilds and first builds are computed (`embedded`, `spark`); None: the
            project's `engine` setting. Upserts of new changes always run embedded: they are small.
    """

    events: dict[Identifier, FunctionName] = Field(min_length=1)
    key: Identifier | None = None
    sequence: Identifier | None = None
    transform: FunctionName | None = None
    history: bool = False
    description: str = ""
    engine: EngineName | None = None

    @field_validator("events", mode="before")
    @classmethod
    def _list_means_conform_functions(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {event: f"conform_{event}" for event in value}
        return value


class KeyLookup(_Strict):
    """How rows without a date of their own find their partition: through another input's rows.

    A row counts in the partitions of the `via` input's rows that share its `key` (a return counts
    in the day its order was placed).
    """

    key: Identifier
    via: str


class PartitionSpec(_Strict):
    """Time partitions of a gold product: Dagster partitions and the unit of backfills.

    Attributes:
        sources: for each input, the column whose date (truncated to the period) is the partition
            its rows count in, or a `KeyLookup` into an input that has such a column. When every
            input has one, a run recomputes only the partitions that the inputs' changes since the
            last run touch, reading only those partitions' rows.
    """

    column: Identifier
    period: Literal["day", "week"] = "day"
    start: date
    sources: dict[str, Identifier | KeyLookup] = {}

    @model_validator(mode="after")
    def _lookups_lead_to_a_column(self) -> PartitionSpec:
        for name, source in self.sources.items():
            if isinstance(source, KeyLookup) and not isinstance(self.sources.get(source.via), str):
                raise ValueError(f"partition.sources.{name}: via {source.via!r} must be an input mapped to a column")
        return self


class ProductSpec(_Strict):
    """A gold data product: published, contracted and registered in the catalog.

    `inputs` name what the transform reads: `silver.<entity>` of this domain or
    `<domain>.<product>`, a product (of another domain: only one granted to this domain).

    Attributes:
        key: the columns identifying a row; checked unique and not null.
        grants: domains that may read this product (besides its own); `public` grants every domain.
        expectations: the contract's data checks, run at every materialisation.
        freshness_hours: the SLA: the product is at most this old.
        partition: daily or weekly partitions (backfills by period); none means one whole table.
    """

    description: str
    inputs: list[str] = Field(min_length=1)
    transform: FunctionName
    freshness_hours: float = Field(default=24, gt=0)
    format: TableFormat | None = None
    public: bool = False
    grants: list[Identifier] = []
    key: list[Identifier] = []
    expectations: list[Expectation] = []
    partition: PartitionSpec | None = None
    tags: list[str] = []
    engine: EngineName | None = None
    """Where the product is computed (`embedded`, `spark`); None: the project's `engine` setting."""

    @model_validator(mode="after")
    def _sources_are_inputs(self) -> ProductSpec:
        unknown = sorted(set(self.partition.sources) - set(self.inputs)) if self.partition else []
        if unknown:
            raise ValueError(f"partition.sources names {', '.join(unknown)}, not input(s) of the product")
        return self

    @model_validator(mode="after")
    def _check_names_unique(self) -> ProductSpec:
        # Each expectation is one Dagster asset check, named by `check_name()`: two of one name would
        # stop every domain's definitions from loading.
        seen: set[str] = set()
        for expectation in [*key_expectations(self.key), *self.expectations]:
            name = expectation.check_name()
            if name in seen:
                implied = " (the key implies it)" if name in ("key_not_null", "key_unique") else ""
                raise ValueError(f"expectations: two checks named {name!r}{implied}: give one a distinct `name`")
            seen.add(name)
        return self

    def readable_by(self, domain: str) -> bool:
        """Whether `domain` (another domain) may read this product."""
        return self.public or domain in self.grants


class MaintenanceSpec(_Strict):
    """Table maintenance of a domain's tables: compaction, snapshot expiry/vacuum, orphan removal."""

    schedule: str = "30 3 * * *"
    retention_hours: float = Field(default=168, ge=0)
    orphan_age_hours: float = Field(default=24, ge=0)
    small_file_mb: float = Field(default=32, gt=0)
    min_small_files: int = Field(default=8, ge=2)


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
    maintenance: MaintenanceSpec = MaintenanceSpec()
    recursion_depth: int = Field(
        default=DEFAULT_RECURSION_DEPTH,
        ge=1,
        le=8,
        description="levels of a recursive message kept as columns before a field holds the serialized message",
    )

    @model_validator(mode="after")
    def _references_resolve(self) -> DomainSpec:
        if EVENT_LOG in self.products:
            raise ValueError(f"products.{EVENT_LOG}: the name of the domain's event log table; pick another name")
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
                if layer == self.name and name not in self.products:
                    raise ValueError(f"products.{product}.inputs: {ref!r}: {self.name} has no product {name!r}")
                if layer == self.name and name == product:
                    raise ValueError(f"products.{product}.inputs: a product cannot read itself")
        return self


def published_to(domain: str, specs: Iterable[DomainSpec]) -> frozenset[str]:
    """`<domain>.<product>` names of other domains' products that `domain` may read."""
    return frozenset(
        f"{spec.name}.{name}"
        for spec in specs
        if spec.name != domain
        for name, product in spec.products.items()
        if product.readable_by(domain)
    )


def mesh_problems(specs: Iterable[DomainSpec]) -> list[str]:
    """What breaks the mesh's rules across domains: inputs or references to products that do not
    exist, or that are not granted to the reading domain, and reads of another domain's silver.

    Returns:
        One message per problem, naming the domain, product and input; empty when all is well.
    """
    specs = list(specs)
    by_name = {s.name: s for s in specs}
    problems = []
    for spec in specs:
        readable = published_to(spec.name, specs)
        for product, pspec in spec.products.items():
            refs = [(f"inputs: {r!r}", r) for r in pspec.inputs if not r.startswith("silver.")]
            refs += [
                (f"expectations: {e.product!r}", e.product) for e in pspec.expectations if isinstance(e, References)
            ]
            for where, ref in refs:
                owner, _, name = ref.partition(".")
                if owner == spec.name:
                    if name not in spec.products:
                        problems.append(f"{spec.name}.{product}: {where}: {spec.name} has no product {name!r}")
                elif owner not in by_name or name not in by_name[owner].products:
                    hint = " (another domain's silver is never readable)" if name.startswith("silver") else ""
                    problems.append(f"{spec.name}.{product}: {where}: no such product{hint}")
                elif ref not in readable:
                    problems.append(
                        f"{spec.name}.{product}: {where}: {ref} is not granted to {spec.name} "
                        f"(add {spec.name} to its grants, or make it public)"
                    )
    return problems
