"""Write-audit-publish under a rival run: a build overtaken by one that published first plans again on the
rival's version and publishes its own candidate on top of it, never over it (both formats)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import polars as pl
import pytest

from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.services.wap import write_audit_publish
from tests.integration.test_gold_rival_commits import PRODUCT, build_silver_all, logged_conflicts, variant
from tests.integration.test_incremental_silver import _classes, _ingest, _land


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_build_overtaken_by_a_rival_that_published_first_publishes_on_top_of_it(
    make_runtime: Callable[..., Runtime], fmt: str, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = make_runtime(fmt)
    orders = runtime.domain("orders")
    assert orders.generator is not None
    events = list(orders.generator(_classes(runtime), 400, 5))
    _land(runtime, events[:200], "a-first")
    _ingest(runtime, "run-1")
    build_silver_all(runtime, "run-1")
    write_audit_publish(orders, PRODUCT, runtime, "run-0")
    _land(runtime, events[200:], "b-later")
    _ingest(runtime, "run-2")
    build_silver_all(runtime, "run-2")
    original = orders.transforms[orders.spec.products[PRODUCT].transform]
    rivals: list[str] = []

    def transform(**inputs: pl.DataFrame) -> pl.DataFrame:
        if not rivals:  # while A computes, B builds the same inputs and publishes first
            rivals.append("B")
            write_audit_publish(orders, PRODUCT, runtime, "run-B")
        built: pl.DataFrame = original(**inputs)
        return built

    with caplog.at_level(logging.INFO, logger="pipelines"):
        audited = write_audit_publish(variant(orders, list(orders.spec.products[PRODUCT].key), transform), PRODUCT,
                                      runtime, "run-A")  # fmt: skip

    store = runtime.store_for("orders", Layer.GOLD, PRODUCT)
    table = orders.product_table(PRODUCT)
    history = store.history(table)
    assert rivals == ["B"]
    assert audited.publication.published and audited.publication.candidate == history[-1].version
    assert [c.properties["meshlake.run_id"] for c in history[-2:]] == ["run-B", "run-A"]
    where = {"domain": "orders", "asset": f"orders/gold/{PRODUCT}", "run_id": "run-A", "table": f"orders.{PRODUCT}"}
    conflicts = [c for c in logged_conflicts(caplog, "conflict") if c["run_id"] == "run-A"]
    assert conflicts == [where | {"event": "conflict", "version": history[-2].version, "rivals": ["run-B"]}]
    rebuilt = write_audit_publish(orders, PRODUCT, runtime, "rebuild", full=True)
    assert store.read(table, as_of=history[-1].version).sort_by("order_id") == store.read(
        table, as_of=rebuilt.build.version
    ).sort_by("order_id")
