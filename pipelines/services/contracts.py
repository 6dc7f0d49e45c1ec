"""A product's contract, evaluated: its expectations checked against the committed table."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from pipelines.core.domain import Domain
from pipelines.core.expectations import Expectation, Outcome, References, evaluate, key_expectations
from pipelines.core.names import Layer, TableId
from pipelines.core.spec import ProductSpec
from pipelines.services.tables import Tables


class ReferenceNotAllowedError(Exception):
    """A `references` expectation names a product its domain may not read."""


def product_expectations(spec: ProductSpec) -> list[Expectation]:
    """Every expectation of a product: those its key implies, then the declared ones."""
    return [*key_expectations(spec.key), *spec.expectations]


def _frame(tables: Tables, domain: str, product: str) -> pl.DataFrame:
    store = tables.store_for(domain, Layer.GOLD, product)
    table = TableId(domain, product)
    frame = pl.from_arrow(store.read(table)) if store.exists(table) else pl.DataFrame()
    assert isinstance(frame, pl.DataFrame)
    return frame


def evaluate_product(
    domain: Domain, product: str, tables: Tables, published: Iterable[str] = (), rows: pl.DataFrame | None = None
) -> list[Outcome]:
    """Check every expectation of a product against its current table, or against `rows` (a candidate).

    Args:
        published: the other domains' products this domain may read (for `references`, which read
            their current versions).
        rows: the rows to check instead of the product's current version.

    Raises:
        ReferenceNotAllowedError: a `references` expectation names a product not published to the domain.
        ValueError: an expectation names a column the product lacks.
    """
    spec = domain.spec.products[product]
    frame = _frame(tables, domain.name, product) if rows is None else rows
    expectations = product_expectations(spec)
    readable = set(published)
    others: dict[str, pl.DataFrame] = {}
    for expectation in expectations:
        if isinstance(expectation, References) and expectation.product not in others:
            owner, _, name = expectation.product.partition(".")
            if owner != domain.name and expectation.product not in readable:
                raise ReferenceNotAllowedError(
                    f"{domain.name}.{product}: {expectation.check_name()} reads {expectation.product}, "
                    f"which is not published to {domain.name}"
                )
            others[expectation.product] = _frame(tables, owner, name)
    return [evaluate(e, frame, others) for e in expectations]
