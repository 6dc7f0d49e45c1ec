"""Silver and gold builds: read inputs, run the domain's pure transform, commit the result."""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from pipelines.core.domain import Domain
from pipelines.core.names import Layer, TableId
from pipelines.ports.table_store import TableStore
from pipelines.services.tables import Tables

UPSTREAM_PROPERTY = "meshlake.upstream"


class InputNotAllowedError(Exception):
    """A product reads something it may not: another domain's bronze/silver or an unknown product."""


@dataclass(frozen=True)
class BuildResult:
    """What a silver or gold build committed."""

    table: TableId
    rows: int
    version: int
    upstream: dict[str, int]
    schema: pa.Schema
    location: str


def _read(store: TableStore, table: TableId) -> tuple[pl.DataFrame, int]:
    history = store.history(table)
    version = history[-1].version if history else 0
    frame = pl.from_arrow(store.read(table, as_of=version if history else None))
    assert isinstance(frame, pl.DataFrame)
    return frame, version


def _commit(
    store: TableStore, table: TableId, frame: pl.DataFrame, upstream: dict[str, int], run_id: str
) -> BuildResult:
    data = frame.to_arrow()
    store.ensure_table(table, data.schema)
    commit = store.overwrite(
        table,
        data,
        {UPSTREAM_PROPERTY: json.dumps(upstream, sort_keys=True), "meshlake.run_id": run_id},
    )
    return BuildResult(table, data.num_rows, commit.version, upstream, store.schema(table), store.location(table))


def build_silver(domain: Domain, entity: str, tables: Tables, run_id: str) -> BuildResult:
    """Rebuild a silver entity from its bronze events with the domain's transform."""
    spec = domain.spec.entities[entity]
    bronze_store = tables.store_for(domain.name, Layer.BRONZE)
    inputs: dict[str, pl.DataFrame] = {}
    upstream: dict[str, int] = {}
    for event in spec.events:
        table = domain.bronze_table(event)
        inputs[event], upstream[str(table)] = _read(bronze_store, table)
    frame = domain.transforms[spec.transform](**inputs)
    return _commit(tables.store_for(domain.name, Layer.SILVER), domain.silver_table(entity), frame, upstream, run_id)


def build_product(
    domain: Domain, product: str, tables: Tables, run_id: str, published: frozenset[str] = frozenset()
) -> BuildResult:
    """Rebuild a gold product from silver entities and published products.

    Args:
        published: `<domain>.<product>` names of other domains' products this domain may read.

    Raises:
        InputNotAllowedError: an input names another domain's product that is not published to it.
    """
    spec = domain.spec.products[product]
    inputs: dict[str, pl.DataFrame] = {}
    upstream: dict[str, int] = {}
    for ref in spec.inputs:
        layer, _, name = ref.partition(".")
        if layer == "silver":
            store, table = tables.store_for(domain.name, Layer.SILVER), domain.silver_table(name)
        else:
            if ref not in published:
                raise InputNotAllowedError(
                    f"{domain.name}.{product} reads {ref!r}, which is not a product published to {domain.name}"
                )
            store, table = tables.store_for(layer, Layer.GOLD, name), TableId(layer, name)
        inputs[name], upstream[str(table)] = _read(store, table)
    frame = domain.transforms[spec.transform](**inputs)
    store = tables.store_for(domain.name, Layer.GOLD, product)
    return _commit(store, domain.product_table(product), frame, upstream, run_id)
