"""engine: spark writes a keyed Delta product itself (only the keys that changed, or the partitions a run recomputes),
the watermark in the same commit.

Runs alternate engines (embedded, spark, spark with nothing new, embedded again): each reads the changes since
the watermark the previous one committed, so the product equals the oracle after every run, without a key
twice. Sail 0.7 has no MERGE nor snapshot properties for Iceberg: an Iceberg product's rows computed on Sail are
committed by meshlake's writer, with the same watermark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.services.incremental import last_upstream
from pipelines.settings import Settings
from tests import oracle
from tests.integration.test_incremental_gold import _build, _generated, _gold, _land_ingest_silver, _split
from tests.paths import MESH

pytestmark = [pytest.mark.xdist_group("sail"), pytest.mark.usefixtures("spark_client")]  # one Sail at a time


def _facts(runtime: Runtime, product: str) -> tuple[dict[tuple[Any, ...], tuple[Any, ...]], int]:
    """The product as the oracle gives it (key → measures), and its number of rows."""
    domain, _, name = product.partition(".")
    rows = runtime.store_for(domain, Layer.GOLD, name).read(runtime.domain(domain).product_table(name)).to_pylist()
    if name != "order_facts":
        return _gold(runtime, product), len(rows)
    facts = {r["order_id"]: (r["day"], r["country"], r["currency"], r["total"], r["status"], r["returned"],
                             r["returned_units"]) for r in rows}  # fmt: skip
    return facts, len(rows)


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
@pytest.mark.parametrize("product", ["orders.order_facts", "orders.daily_revenue"])  # keyed; partitioned by day
def test_engines_alternate_on_a_product_and_it_equals_the_oracle_after_each_run(
    tmp_path: Path, fmt: str, product: str
) -> None:
    env = {"MESHLAKE_HOME": str(tmp_path / "home"), "MESHLAKE_FORMAT": fmt, "MESHLAKE_ENGINE": "spark"}
    runtime = Runtime(Settings.load(project=MESH, env=env))
    name = product.partition(".")[2]
    expected = getattr(oracle, name)
    try:
        engine = runtime.engine_for("orders", name)
        store = runtime.store_for("orders", Layer.GOLD, name)
        table = runtime.domain("orders").product_table(name)
        earlier, late = _split(_generated(runtime, "orders", count=1_500))
        first, second = _split(earlier)

        def run(events: list[tuple[str, Any]], run_id: str, **options: Any) -> dict[str, Any]:
            if events:
                _land_ingest_silver(runtime, "orders", events, run_id)
            built = _build(runtime, product, run_id, **options)
            facts, rows = _facts(runtime, product)
            assert (facts, rows) == (expected(runtime), len(facts))  # nothing skipped, no key twice
            assert last_upstream(store.history(table)) == built.upstream  # the watermark is in the newest commit
            return built.details

        assert run(first, "run-1")["engine"] == "embedded"
        on_spark = run(second, "run-2", engine=engine)
        assert (on_spark["engine"], on_spark.get("writer")) == ("spark", "spark" if fmt == "delta" else None)
        if name == "order_facts":
            assert 0 < on_spark["keys_changed"] < len(expected(runtime))  # only the orders that changed
        else:
            assert on_spark["mode"] == "incremental" and 0 < len(on_spark["partitions"]) < len(expected(runtime))
        versions = len(store.history(table))
        idle = run([], "run-3", engine=engine)
        assert len(store.history(table)) == versions + 1  # nothing new: the watermark's commit, of no rows
        assert idle.get("keys_changed", 0) == 0 and idle.get("partitions", []) in ([], "all")
        assert run(late, "run-4")["engine"] == "embedded"
    finally:
        runtime.close()
