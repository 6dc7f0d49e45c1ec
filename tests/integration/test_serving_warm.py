"""A server keeps its DuckDB engines between queries: answers still follow every commit and every grant."""

from __future__ import annotations

import threading

import pytest
from deltalake import DeltaTable

from pipelines.core.names import Layer
from pipelines.ports.query_engine import QueryPermissionError, QueryTimeoutError
from tests.integration.test_serving_data import ADMIN, REVENUE, Lake, lake, revenue_rows  # noqa: F401  (fixture)

COUNT = "SELECT count(*) AS n FROM orders.daily_revenue"


def _count(lake: Lake, principal: str | None = None) -> int:  # noqa: F811
    return int(lake.serving.query(COUNT, principal).table["n"][0].as_py())


def test_the_next_query_reads_a_version_committed_after_the_last_one(lake: Lake) -> None:  # noqa: F811
    assert _count(lake) == 9
    store = lake.runtime.store_for("orders", Layer.GOLD, "daily_revenue")
    store.overwrite(REVENUE, revenue_rows(4))
    assert _count(lake) == 12
    store.append(REVENUE, revenue_rows(1))
    assert _count(lake) == 15


def test_an_engine_serves_again_only_while_the_tables_it_read_are_unchanged(lake: Lake) -> None:  # noqa: F811
    engine = lake.serving.engine()
    engine.execute(COUNT)
    assert engine.serves_as_planned(COUNT, lake.serving.plan)
    # A product not read yet: after the first query the engine is locked and could only hand it over by Arrow.
    assert not engine.serves_as_planned("SELECT * FROM orders.customers", lake.serving.plan)
    store = lake.runtime.store_for("orders", Layer.GOLD, "daily_revenue")
    if lake.runtime.settings.format == "delta":  # a commit that changes no rows keeps the engine
        retention = {"delta.logRetentionDuration": "interval 9 days"}
        DeltaTable(store.location(REVENUE)).alter.set_table_properties(retention)
        assert engine.serves_as_planned(COUNT, lake.serving.plan)
    store.overwrite(REVENUE, revenue_rows(1))
    assert not engine.serves_as_planned(COUNT, lake.serving.plan)
    engine.close()


def test_an_engine_that_could_only_hand_a_product_over_by_arrow_is_not_kept_for_it(lake: Lake) -> None:  # noqa: F811
    engine = lake.serving.engine(read_path="parquet")
    engine.execute(COUNT)  # reads with DuckDB's Parquet reader, then locks file access
    engine.execute("SELECT count(*) FROM information_schema.tables")  # attaches the rest: by Arrow now
    assert engine.read_paths()["orders.customers"] == "arrow"
    assert not engine.serves_as_planned("SELECT * FROM orders.customers", lake.serving.plan)
    assert engine.serves_as_planned(COUNT, lake.serving.plan)
    engine.close()


def test_a_grant_and_its_revocation_apply_to_the_next_query(lake: Lake) -> None:  # noqa: F811
    customers = "SELECT count(*) AS n FROM orders.customers"
    assert _count(lake, "marketing") == 9
    lake.catalog.grant(ADMIN, "orders.customers", "marketing")
    assert lake.serving.query(customers, "marketing").table["n"][0].as_py() == 3
    lake.catalog.revoke(ADMIN, "orders.customers", "marketing")
    with pytest.raises(QueryPermissionError, match=r"may not read orders\.customers"):
        lake.serving.query(customers, "marketing")
    assert _count(lake, "marketing") == 9


def test_after_a_timeout_the_same_reader_queries_again(lake: Lake) -> None:  # noqa: F811
    with pytest.raises(QueryTimeoutError):
        lake.serving.query("SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b", timeout_s=0.2)
    assert _count(lake) == 9


def test_concurrent_queries_of_one_reader_each_get_their_answer(lake: Lake) -> None:  # noqa: F811
    answers: list[int] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(5):
                answers.append(_count(lake, "marketing"))
        except BaseException as exc:  # collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "queries still ran after 120 s"
    assert not failures
    assert answers == [9] * 20
