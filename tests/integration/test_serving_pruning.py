"""A selective query reads only the data files its filters can match, and answers as a full read does.

A product partitioned by day of a time with time zone, written in three commits (a file per day and
commit), with NULLs, decimals, dates and timestamps; each query's answer is compared with the Arrow
handoff's (which reads every file), and the files a query needs are proven by deleting all others.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.bootstrap import Runtime
from pipelines.core.domain import Domain
from pipelines.core.names import Layer, TableId
from pipelines.core.spec import DomainSpec
from pipelines.ports.table_store import PartitionField
from pipelines.serving import Serving
from pipelines.settings import Settings
from tests.paths import MESH

SALES = TableId("shop", "sales")
DAYS = 6
COMMITS = 3


def _domain() -> Domain:
    spec = DomainSpec.model_validate(
        {
            "name": SALES.domain,
            "owner": "team-shop",
            "schemas": "shop/v1",
            "events": {"happened": {"message": "test.shop.Happened"}},
            "entities": {"things": {"events": ["happened"], "transform": "things"}},
            "products": {SALES.name: {"description": "sales", "inputs": ["silver.things"], "transform": "t"}},
        }
    )
    return Domain(spec=spec, transforms={})


def _commit(commit: int) -> pa.Table:
    """Four rows a day: ids grow with time; a NULL id, country and amount now and then."""
    rows = [(d, commit, i) for d in range(DAYS) for i in range(4)]
    ids = [None if i == 3 and d % 2 else d * 100 + commit * 10 + i for d, commit, i in rows]
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "ordered_at": pa.array(
                [datetime(2026, 5, 1, 22, tzinfo=UTC) + timedelta(days=d, minutes=c * 10 + i) for d, c, i in rows],
                pa.timestamp("us", tz="UTC"),
            ),
            "day": pa.array([date(2026, 5, 1) + timedelta(days=d) for d, _, _ in rows], pa.date32()),
            "country": [None if i == 2 else ["DE", "FR", "NL"][(d + c) % 3] for d, c, i in rows],
            "amount": pa.array(
                [None if i == 1 and c == 2 else Decimal(f"{d * 50 + c * 7 + i}.25") for d, c, i in rows],
                pa.decimal128(18, 2),
            ),
        }
    )


@pytest.fixture(params=["iceberg", "delta"])
def serving(request: pytest.FixtureRequest, tmp_path: Path) -> Serving:
    settings = Settings.load(
        project=MESH, env={"MESHLAKE_HOME": str(tmp_path / "home"), "MESHLAKE_FORMAT": request.param}
    )
    runtime = Runtime(settings, domains=[_domain()])
    store = runtime.store_for(SALES.domain, Layer.GOLD, SALES.name)
    for commit in range(COMMITS):
        data = _commit(commit)
        if commit == 0:
            store.ensure_table(SALES, data.schema, [PartitionField("ordered_at", "day")])
        store.append(SALES, data)
    return Serving(runtime, read_path="parquet")


def _files_read(serving: Serving, sql: str) -> int:
    """Data files DuckDB opened for `sql` (its profile's `Total Files Read`)."""
    engine = serving.engine()
    try:
        engine.execute(sql)
        plan = json.loads(engine.connection.sql(f"EXPLAIN (ANALYZE, FORMAT json) {sql}").fetchall()[0][1])
    finally:
        engine.close()
    counts: list[int] = []

    def walk(node: dict[str, Any]) -> None:
        extra = node.get("extra_info") or {}
        if isinstance(extra, dict) and "Total Files Read" in extra:
            counts.append(int(extra["Total Files Read"]))
        for child in node.get("children", []):
            walk(child)

    walk(plan)
    return sum(counts)


PRUNED = {
    "one day": ("SELECT * FROM shop.sales WHERE day = DATE '2026-05-03'", COMMITS),
    "a key range": ("SELECT * FROM shop.sales WHERE id BETWEEN 200 AND 299", COMMITS),
    "a time with another zone": (
        "SELECT * FROM shop.sales WHERE ordered_at >= TIMESTAMPTZ '2026-05-06 23:10:00+01'",
        2,
    ),
    "IN and a range": (
        "SELECT * FROM shop.sales s WHERE s.day IN (DATE '2026-05-02', DATE '2026-05-04') AND id < 400",
        6,
    ),
    "a decimal": ("SELECT * FROM shop.sales WHERE amount > 250.25", COMMITS),
    "in a CTE under a join": (
        "WITH d AS (SELECT * FROM shop.sales WHERE day BETWEEN DATE '2026-05-05' AND DATE '2026-05-06') "
        "SELECT d.* FROM d JOIN (SELECT 'DE' AS country) c ON d.country = c.country",
        2 * COMMITS,
    ),
    "no day at all": ("SELECT * FROM shop.sales WHERE day = DATE '2030-01-01'", 0),  # one file left, its stats skip it
}
# Filters that say nothing about a file's ranges: every file is handed to DuckDB (which may skip some by their footers).
UNPRUNED = {
    "an OR": "SELECT * FROM shop.sales WHERE day = DATE '2026-05-03' OR id IS NULL",
    "IS NULL": "SELECT * FROM shop.sales WHERE amount IS NULL",
    "a function of the column": "SELECT * FROM shop.sales WHERE CAST(day AS VARCHAR) = '2026-05-03'",
    "a string against a date": "SELECT * FROM shop.sales WHERE day IN ('2026-05-02', '2026-05-04')",
    "a timestamp against a date": "SELECT * FROM shop.sales WHERE day = TIMESTAMP '2026-05-03 00:00:00'",
    "a double": "SELECT * FROM shop.sales WHERE amount > 250.25::DOUBLE",
    "NOT": "SELECT * FROM shop.sales WHERE NOT (id < 300)",
    "the product twice": ("SELECT a.* FROM shop.sales a JOIN shop.sales b USING (id) WHERE a.day = DATE '2026-05-03'"),
}


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(name, "ascending") for name in table.column_names])


@pytest.mark.parametrize("sql", [sql for sql, _ in PRUNED.values()] + list(UNPRUNED.values()), ids=[*PRUNED, *UNPRUNED])
def test_answers_equal_a_read_of_every_file(serving: Serving, sql: str) -> None:
    full = Serving(serving.runtime, read_path="arrow").query(sql).table
    assert _sorted(serving.query(sql).table).equals(_sorted(full))


@pytest.mark.parametrize(("sql", "files"), PRUNED.values(), ids=list(PRUNED))
def test_a_selective_query_opens_only_the_files_it_can_match(serving: Serving, sql: str, files: int) -> None:
    assert _files_read(serving, sql) == files


def test_files_the_filter_excludes_are_never_opened(serving: Serving) -> None:
    """Every file without a row of the day is deleted: the query still answers, from the others."""
    sql = "SELECT id, amount FROM shop.sales WHERE day = DATE '2026-05-04' ORDER BY id, amount"
    expected = serving.query(sql).table
    for path in serving.plan(str(SALES)).files:
        if date(2026, 5, 4) not in pq.read_table(path, columns=["day"]).column("day").to_pylist():
            Path(path).unlink()
    assert serving.query(f"{sql} -- again").table.equals(expected)
    assert expected.num_rows == 4 * COMMITS


def test_a_kept_engine_points_its_view_at_each_query_s_files(serving: Serving) -> None:
    for day in (2, 5, 2):
        sql = f"SELECT count(*) AS n, count(id) AS ids FROM shop.sales WHERE day = DATE '2026-05-0{day}'"
        nulls = COMMITS * ((day - 1) % 2)  # the days of odd index have a NULL id per commit
        assert serving.query(sql).table.to_pylist() == [{"n": 4 * COMMITS, "ids": 4 * COMMITS - nulls}]
    assert serving.query("SELECT count(*) AS n FROM shop.sales").table.to_pylist() == [{"n": DAYS * 4 * COMMITS}]


def test_a_commit_between_two_queries_is_read(serving: Serving) -> None:
    sql = "SELECT count(*) AS n FROM shop.sales WHERE day = DATE '2026-05-03'"
    assert serving.query(sql).table.to_pylist() == [{"n": 4 * COMMITS}]
    serving.runtime.store_for(SALES.domain, Layer.GOLD, SALES.name).append(SALES, _commit(COMMITS))
    assert serving.query(sql).table.to_pylist() == [{"n": 4 * (COMMITS + 1)}]
