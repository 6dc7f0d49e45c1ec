"""Silver and gold builds: read inputs, run the domain's pure transform, commit the result.

Silver is incremental (see `pipelines.services.silver`); gold recomputes its product from its inputs
and replaces either the whole table or only the partitions (days, weeks) a run was asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import polars as pl
import pyarrow as pa

from pipelines.core.domain import Domain
from pipelines.core.names import Layer, TableId
from pipelines.core.spec import DomainSpec, published_to
from pipelines.ports.table_store import TableStore
from pipelines.services.incremental import MODE_PROPERTY, UPSTREAM_PROPERTY, IncrementalRuntime, encode_upstream
from pipelines.services.silver import SilverTables, build_entity

__all__ = [
    "UPSTREAM_PROPERTY",
    "BuildResult",
    "InputNotAllowedError",
    "PartitionWindow",
    "build_product",
    "build_silver",
    "published_inputs",
]


class InputNotAllowedError(Exception):
    """A product reads something it may not: another domain's bronze/silver or an unknown product."""


@dataclass(frozen=True)
class BuildResult:
    """What a silver or gold build committed; `details` says how (rows scanned, keys changed, ...)."""

    table: TableId
    rows: int
    version: int
    upstream: dict[str, int]
    schema: pa.Schema
    location: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionWindow:
    """The partitions of a gold run: values of the partition column in `[start, end)`.

    `complete` says the window spans every partition of the product, so the whole table is replaced.
    """

    start: date
    end: date
    period: str = "day"
    complete: bool = False

    def values(self) -> list[date]:
        """Each partition's value (the day, or the Monday of the week) in the window."""
        step = timedelta(days=7 if self.period == "week" else 1)
        out, value = [], self.start
        while value < self.end:
            out.append(value)
            value += step
        return out


def _read(store: TableStore, table: TableId) -> tuple[pl.DataFrame, int]:
    history = store.history(table)
    version = history[-1].version if history else 0
    frame = pl.from_arrow(store.read(table, as_of=version if history else None))
    assert isinstance(frame, pl.DataFrame)
    return frame, version


def build_silver(domain: Domain, entity: str, tables: SilverTables, run_id: str, full: bool = False) -> BuildResult:
    """Bring a silver entity up to date with bronze: incremental upsert, or a rebuild when `full`.

    Returns:
        The state table's result; `details` holds the run's counts, and the history table's when kept.
    """
    builds = build_entity(domain, entity, tables, run_id, full=full)
    state = builds[0]
    details: dict[str, Any] = {
        "mode": "incremental" if state.incremental else "full",
        "events_read": state.changes,
        "rows_scanned": state.rows_scanned,
        "keys_changed": state.changed_keys,
        "rows_rewritten": state.rows_rewritten,
        "files_rewritten": state.files_rewritten,
    }
    if state.reasons:
        details["full_read_reasons"] = list(state.reasons)
    for history in builds[1:]:
        details["history_table"] = str(history.table)
        details["history_rows"] = history.rows
        details["history_version"] = history.version
    return BuildResult(state.table, state.rows, state.version, state.upstream, state.schema, state.location, details)


def published_inputs(domain: str, specs: Iterable[DomainSpec]) -> frozenset[str]:
    """The products of other domains `domain` may read, as the specs grant them."""
    return published_to(domain, specs)


def _window_frame(frame: pl.DataFrame, column: str, window: PartitionWindow) -> pl.DataFrame:
    values = frame[column]
    if values.dtype == pl.Datetime:
        values = values.dt.date()
    return frame.filter((values >= window.start) & (values < window.end))


def build_product(
    domain: Domain,
    product: str,
    tables: IncrementalRuntime,
    run_id: str,
    published: frozenset[str] = frozenset(),
    window: PartitionWindow | None = None,
) -> BuildResult:
    """Build a gold product from silver entities and published products.

    Args:
        published: `<domain>.<product>` names of other domains' products this domain may read
            (see `published_inputs`).
        window: the partitions to replace; None (or a complete window) replaces the whole table.

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
        elif layer == domain.name:
            store, table = tables.store_for(domain.name, Layer.GOLD, name), domain.product_table(name)
        else:
            if ref not in published:
                raise InputNotAllowedError(
                    f"{domain.name}.{product} reads {ref!r}, which is not a product published to {domain.name}"
                )
            store, table = tables.store_for(layer, Layer.GOLD, name), TableId(layer, name)
        inputs[name], upstream[str(table)] = _read(store, table)
    frame = domain.transforms[spec.transform](**inputs)
    store = tables.store_for(domain.name, Layer.GOLD, product)
    target = domain.product_table(product)
    props = {UPSTREAM_PROPERTY: encode_upstream(upstream), "meshlake.run_id": run_id}
    partition = spec.partition
    details: dict[str, Any] = {}
    if window is None or window.complete or partition is None:
        data = frame.to_arrow()
        store.ensure_table(target, data.schema)
        commit = store.overwrite(target, data, {**props, MODE_PROPERTY: "full"})
        details["partitions"] = "all"
    else:
        subset = _window_frame(frame, partition.column, window)
        data = subset.to_arrow()
        store.ensure_table(target, frame.to_arrow().schema)
        keys = pa.array(window.values(), pa.date32())
        outcome = tables.incremental(store).replace_keys(
            target, partition.column, keys, lambda _current: data, {**props, MODE_PROPERTY: "partitions"}
        )
        assert outcome.commit is not None
        commit = outcome.commit
        details |= {
            "partitions": f"{window.start}..{window.end - timedelta(days=1)}",
            "rows_in_partitions": data.num_rows,
            "files_rewritten": outcome.files_rewritten,
        }
    rows = len(store.read(target, [store.schema(target).names[0]]))
    return BuildResult(target, rows, commit.version, upstream, store.schema(target), store.location(target), details)
