"""A gold build that another run overtakes does not overwrite the newer product with its stale one (no lost update).

Build A reads the silver tables, and while it computes, new events reach silver and build B reads
them, computes and commits. A's commit then comes last. For a product replaced whole by an overwrite
(one with no order column, or a build that produces no rows), A's commit used to replace B's newer
product with A's stale one, and record A's older input versions as the product's watermark. A must
find B's commit and plan again on the new inputs (or give up), on both table formats.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import polars as pl
import pytest

from pipelines import logs
from pipelines.bootstrap import Runtime
from pipelines.core.domain import Domain
from pipelines.core.names import Layer
from pipelines.services.build import build_product, build_silver
from pipelines.services.incremental import last_upstream
from tests.integration.test_incremental_silver import _classes, _ingest, _land

PRODUCT = "order_facts"


def variant(domain: Domain, key: list[str], transform: Callable[..., pl.DataFrame]) -> Domain:
    """The orders domain with `order_facts` keyed by `key` (none: no order column) and computed by `transform`."""
    product = domain.spec.products[PRODUCT].model_copy(update={"key": key})
    spec = domain.spec.model_copy(update={"products": {**domain.spec.products, PRODUCT: product}})
    return Domain(spec, {**domain.transforms, domain.spec.products[PRODUCT].transform: transform}, domain.generator)


def build_silver_all(runtime: Runtime, run_id: str) -> None:
    domain = runtime.domain("orders")
    for entity in domain.spec.entities:
        build_silver(domain, entity, runtime, run_id)


def logged_conflicts(caplog: pytest.LogCaptureFixture, kind: str) -> list[dict[str, object]]:
    """The fields of the `kind` lines (`conflict`, `retry`) logged while `caplog` listened."""
    found = [getattr(r, logs.FIELDS) for r in caplog.records if hasattr(r, logs.FIELDS)]
    return [fields for fields in found if fields["event"] == kind]


def gold(runtime: Runtime) -> pl.DataFrame:
    table = runtime.domain("orders").product_table(PRODUCT)
    frame = pl.from_arrow(runtime.store_for("orders", Layer.GOLD, PRODUCT).read(table))
    assert isinstance(frame, pl.DataFrame)
    return frame.sort(frame.columns)


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
@pytest.mark.parametrize("case", ["no order column", "no rows"])
def test_a_stale_whole_build_does_not_overwrite_a_newer_one(
    make_runtime: Callable[..., Runtime], fmt: str, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = make_runtime(fmt)
    orders = runtime.domain("orders")
    assert orders.generator is not None
    events = list(orders.generator(_classes(runtime), 600, 3))
    later = set(range(0, len(events), 4))
    _land(runtime, [e for n, e in enumerate(events) if n not in later], "a-first")
    _ingest(runtime, "run-1")
    build_silver_all(runtime, "run-1")
    first_silver = pl.from_arrow(
        runtime.store_for("orders", Layer.SILVER).read(orders.silver_table("orders"), ["order_id"])
    )
    assert isinstance(first_silver, pl.DataFrame)  # a table converts to a frame
    first_orders = set(first_silver.to_series())

    original = orders.transforms[orders.spec.products[PRODUCT].transform]
    if case == "no rows":  # the orders placed after the first run: none yet when A reads silver
        key = ["order_id"]

        def compute(**inputs: pl.DataFrame) -> pl.DataFrame:
            facts: pl.DataFrame = original(**inputs)
            return facts.filter(~pl.col("order_id").is_in(pl.Series(sorted(first_orders)).implode()))
    else:
        key, compute = [], original

    overtaken: list[str] = []

    def transform(**inputs: pl.DataFrame) -> pl.DataFrame:
        stale = compute(**inputs)
        if not overtaken:  # A computed on the old silver: new events arrive and B builds and commits them
            overtaken.append("B")
            _land(runtime, [events[n] for n in sorted(later)], "b-later")
            _ingest(runtime, "run-2")
            build_silver_all(runtime, "run-2")
            build_product(domain, PRODUCT, runtime, "run-B")
        return stale

    domain = variant(orders, key, transform)
    with caplog.at_level(logging.INFO, logger="pipelines"):
        build_product(domain, PRODUCT, runtime, "run-A")
    assert overtaken == ["B"]
    built = gold(runtime)
    store = runtime.store_for("orders", Layer.GOLD, PRODUCT)
    b_version = next(c.version for c in store.history(orders.product_table(PRODUCT))
                     if c.properties.get("meshlake.run_id") == "run-B")  # fmt: skip
    where = {"domain": "orders", "asset": f"orders/gold/{PRODUCT}", "run_id": "run-A", "table": f"orders.{PRODUCT}"}
    assert logged_conflicts(caplog, "conflict") == [where | {"event": "conflict", "version": b_version,
                                                             "rivals": ["run-B"]}]  # fmt: skip
    assert logged_conflicts(caplog, "retry") == [where | {"event": "retry", "version": b_version, "attempt": 2}]
    silver = runtime.store_for("orders", Layer.SILVER)
    watermark = last_upstream(store.history(orders.product_table(PRODUCT)))
    assert watermark[str(orders.silver_table("orders"))] == silver.history(orders.silver_table("orders"))[-1].version

    build_product(variant(orders, key, compute), PRODUCT, runtime, "rebuild", full=True)
    rebuilt = gold(runtime)
    assert rebuilt.height > 0
    assert built.equals(rebuilt)
