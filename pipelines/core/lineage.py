"""How a transform declares where its output columns come from (OpenLineage column lineage).

A domain's transform says it with the `derives` decorator: each output column names the input
columns it is computed from, as `<input>.<column>`, `<input>` being the transform's parameter (a
product's input by its name in the spec: `sales` for `silver.sales`, `revenue` for `shop.revenue`;
a silver conform function's one parameter: its event's bronze rows):

    @derives(day="sales.sold_at", revenue=["sales.amount_cents", "sales.refunded_cents"])
    def daily_sales(sales: pl.DataFrame) -> pl.DataFrame: ...

    @derives(sale_id="rows.sale_id", amount_cents="rows.amount_cents")
    def conform_sale_made(rows: pl.DataFrame) -> pl.DataFrame: ...

Columns not declared have no column lineage; a transform without the decorator has none.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

ATTRIBUTE = "__meshlake_derives__"
"""Where `derives` keeps the declaration on the transform."""

Transform = TypeVar("Transform", bound=Callable[..., Any])
ColumnSources = dict[str, list[tuple[str, str]]]
"""Output column -> its `(input, column)` sources."""


def derives(**columns: str | Sequence[str]) -> Callable[[Transform], Transform]:
    """Declare the input columns each output column of the decorated transform is computed from.

    Args:
        columns: output column -> one `<input>.<column>` or a list of them.

    Raises:
        ValueError: a source is not `<input>.<column>`.
    """
    sources: ColumnSources = {}
    for output, given in columns.items():
        items = [given] if isinstance(given, str) else list(given)
        pairs = []
        for item in items:
            name, dot, column = item.partition(".")
            if not (name and dot and column):
                raise ValueError(f"derives({output}=...): {item!r} is not <input>.<column>")
            pairs.append((name, column))
        sources[output] = pairs

    def declare(transform: Transform) -> Transform:
        setattr(transform, ATTRIBUTE, sources)
        return transform

    return declare


def declared_sources(transform: Callable[..., Any]) -> ColumnSources:
    """What `derives` declared on `transform` (empty when nothing was)."""
    found: Mapping[str, list[tuple[str, str]]] = getattr(transform, ATTRIBUTE, {})
    return {output: list(pairs) for output, pairs in found.items()}


def unknown_inputs(transform: Callable[..., Any]) -> list[str]:
    """The `<input>` names `derives` declared on `transform` that are none of its parameters."""
    parameters = inspect.signature(transform).parameters
    named = {name for pairs in declared_sources(transform).values() for name, _ in pairs}
    return sorted(named - set(parameters))
