"""Silver and gold builds: read inputs, run the domain's pure transform, commit the result.

Silver is incremental (see `pipelines.services.silver`); gold recomputes the partitions its inputs'
changes touch when its spec says how inputs map to partitions (see `pipelines.services.gold`), else
its whole product, and replaces the whole table or the partitions (days, weeks) a run was asked for.
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
from pipelines.services.gold import Source, in_partitions, read_partitions, touched_partitions
from pipelines.services.incremental import (
    MODE_PROPERTY,
    UPSTREAM_PROPERTY,
    IncrementalRuntime,
    encode_upstream,
    last_upstream,
)
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


def _sources(domain: Domain, product: str, tables: IncrementalRuntime, published: frozenset[str]) -> list[Source]:
    spec = domain.spec.products[product]
    columns = spec.partition.sources if spec.partition else {}
    sources = []
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
        sources.append(Source(name, store, table, tables.incremental(store), columns.get(ref)))
    return sources


def build_product(
    domain: Domain,
    product: str,
    tables: IncrementalRuntime,
    run_id: str,
    published: frozenset[str] = frozenset(),
    window: PartitionWindow | None = None,
    full: bool = False,
) -> BuildResult:
    """Build a gold product from silver entities and published products.

    A run over every partition of a product whose spec declares `partition.sources` recomputes
    only the partitions its inputs' changes since the last run touch (see `pipelines.services.gold`);
    otherwise, or when `full`, it reads its inputs whole.

    Args:
        published: `<domain>.<product>` names of other domains' products this domain may read
            (see `published_inputs`).
        window: the partitions to replace; None (or a complete window) replaces the whole table.
        full: recompute from all of the inputs even when the changes since the last run are known.

    Returns:
        The build; `details` says how: `mode` (full, incremental, partitions), `rows_read` of the
        inputs to compute the product (and `changed_rows_read`, what finding the partitions read),
        and the partitions replaced.

    Raises:
        InputNotAllowedError: an input names another domain's product that is not published to it.
    """
    spec = domain.spec.products[product]
    sources = _sources(domain, product, tables, published)
    store = tables.store_for(domain.name, Layer.GOLD, product)
    target = domain.product_table(product)
    partition = spec.partition
    details: dict[str, Any] = {}
    touched = None
    if partition is not None and (window is None or window.complete):
        if full or not store.exists(target):
            details["full_read_reason"] = "a full rebuild was asked for" if full else "first run"
        else:
            touched, reason = touched_partitions(sources, last_upstream(store.history(target)), partition)
            if reason:
                details["full_read_reason"] = reason
    if touched is not None and partition is not None:
        inputs, rows_read = {}, 0
        for source in sources:
            inputs[source.name], scanned = read_partitions(source, touched.partitions, partition.period)
            rows_read += scanned
        frame = domain.transforms[spec.transform](**inputs)
        data = in_partitions(frame, partition.column, touched.partitions, partition.period).to_arrow()
        props = {UPSTREAM_PROPERTY: encode_upstream(touched.upstream), "meshlake.run_id": run_id}
        keys = pa.array(touched.partitions, pa.date32())
        outcome = tables.incremental(store).replace_keys(
            target, partition.column, keys, lambda _current: data, {**props, MODE_PROPERTY: "incremental"}
        )
        assert outcome.commit is not None
        details |= {
            "mode": "incremental",
            "changed_rows_read": touched.rows_scanned,
            "rows_read": rows_read,
            "partitions": [str(p) for p in touched.partitions],
            "rows_in_partitions": data.num_rows,
            "files_rewritten": outcome.files_rewritten,
        }
        rows = outcome.table_rows if outcome.table_rows is not None else len(store.read(target, [partition.column]))
        return BuildResult(target, rows, outcome.commit.version, touched.upstream, store.schema(target),
                           store.location(target), details)  # fmt: skip
    inputs, upstream = {}, {}
    for source in sources:
        inputs[source.name], upstream[str(source.table)] = _read(source.store, source.table)
    details["rows_read"] = sum(f.height for f in inputs.values())
    frame = domain.transforms[spec.transform](**inputs)
    props = {UPSTREAM_PROPERTY: encode_upstream(upstream), "meshlake.run_id": run_id}
    if window is None or window.complete or partition is None:
        data = frame.to_arrow()
        store.ensure_table(target, data.schema)
        commit = store.overwrite(target, data, {**props, MODE_PROPERTY: "full"})
        details |= {"mode": "full", "partitions": "all"}
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
            "mode": "partitions",
            "partitions": f"{window.start}..{window.end - timedelta(days=1)}",
            "rows_in_partitions": data.num_rows,
            "files_rewritten": outcome.files_rewritten,
        }
    rows = len(store.read(target, [store.schema(target).names[0]]))
    return BuildResult(target, rows, commit.version, upstream, store.schema(target), store.location(target), details)
