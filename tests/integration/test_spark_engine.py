"""engine: spark on a Sail server the runtime starts: the same gold rows as the embedded engine, both formats.

Engines switch between runs of one product (embedded first run, Spark incremental run, embedded rebuild):
the watermark each commit records keeps every run from skipping or repeating changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from pyarrow import fs

from catalog.service import CatalogService
from catalog.testing import serve_in_thread
from pipelines.adapters.seaweedfs import SeaweedServer
from pipelines.adapters.server_process import free_port
from pipelines.adapters.spark import SparkEngine
from pipelines.adapters.storage.s3 import S3Backend
from pipelines.bootstrap import Runtime
from pipelines.cli.local_storage import local_object_store
from pipelines.core.engine import PORTABLE_ATTRIBUTE
from pipelines.core.names import Layer, TableId
from pipelines.ports.engine import EngineError, Scan
from pipelines.services.build_types import BuildResult
from pipelines.services.publish import publish_product
from pipelines.serving.iceberg_rest import rest_app
from pipelines.settings import Settings
from tests.integration.test_incremental_gold import _build, _generated, _gold, _land_ingest_silver, _oracle, _split
from tests.paths import MESH

pytestmark = [pytest.mark.xdist_group("sail"), pytest.mark.usefixtures("spark_client")]  # one Sail at a time


@pytest.fixture
def spark_runtime(tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    runtimes: list[Runtime] = []

    def make(fmt: str, **env: str) -> Runtime:
        values = {"MESHLAKE_HOME": str(tmp_path / "home"), "MESHLAKE_FORMAT": fmt, "MESHLAKE_ENGINE": "spark"}
        runtimes.append(Runtime(Settings.load(project=MESH, env=values | env)))
        return runtimes[-1]

    yield make
    for runtime in runtimes:
        runtime.close()


def _rows(runtime: Runtime, product: str) -> list[dict[str, Any]]:
    """The product's rows in the order of its key (an engine's write appends its files: the order read differs)."""
    domain, _, name = product.partition(".")
    table = runtime.store_for(domain, Layer.GOLD, name).read(runtime.domain(domain).product_table(name))
    key = runtime.domain(domain).spec.products[name].key
    return sorted(table.to_pylist(), key=lambda row: tuple(row[k] for k in key))


PRODUCTS = {
    # every product of the mesh: (domains whose events it needs, products built before it)
    "orders.order_facts": (["orders"], []),
    "orders.daily_revenue": (["orders"], []),
    "payments.settlement_summary": (["payments"], []),
    "shipping.deliveries": (["shipping"], []),
    "shipping.order_fulfilment": (["orders", "shipping"], ["orders.order_facts", "shipping.deliveries"]),
}
CHECKED = {"orders.daily_revenue", "payments.settlement_summary", "shipping.order_fulfilment"}
"""The products the independent oracle computes from the landed events."""


def _land(runtime: Runtime, events: dict[str, list[tuple[str, Any]]], upstream: list[str], run: str) -> None:
    """Land and ingest the events, then build and publish the upstream products (the catalog grants them)."""
    for domain, arrivals in events.items():
        _land_ingest_silver(runtime, domain, arrivals, run)
    for product in upstream:
        domain, _, name = product.partition(".")
        actual = runtime.format_for(domain, Layer.GOLD, name).value
        publish_product(
            runtime.domain(domain), name, _build(runtime, product, run), runtime.registry(domain), run, actual
        )


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_spark_builds_the_rows_of_the_embedded_engine_and_engines_switch_between_runs(
    spark_runtime: Callable[..., Runtime], fmt: str, product: str
) -> None:
    _builds_the_rows_of_the_embedded_engine(spark_runtime(fmt), product)


def _builds_the_rows_of_the_embedded_engine(runtime: Runtime, product: str) -> BuildResult:
    """The product's first run embedded, its second on the engine (equal to the oracle), then an embedded and an
    engine full rebuild with the rows of that run; returns the engine's run."""
    domain, _, name = product.partition(".")
    domains, upstream = PRODUCTS[product]
    halves = {d: _split(_generated(runtime, d, count=1_500)) for d in domains}
    _land(runtime, {d: first for d, (first, _) in halves.items()}, upstream, "run-1")
    assert _build(runtime, product, "run-1").details["engine"] == "embedded"  # no engine given: embedded

    _land(runtime, {d: second for d, (_, second) in halves.items()}, upstream, "run-2")
    on_spark: BuildResult = _build(runtime, product, "run-2", engine=runtime.engine_for(domain, name))
    partitioned = runtime.domain(domain).spec.products[name].partition is not None
    assert (on_spark.details["engine"], on_spark.details["mode"]) == ("spark", "incremental" if partitioned else "full")
    assert on_spark.details["spark_url"].startswith("sc://127.0.0.1:")
    if product in CHECKED:
        assert _gold(runtime, product) == _oracle(runtime, product)  # nothing skipped, nothing twice
    spark_rows = _rows(runtime, product)
    assert spark_rows

    _build(runtime, product, "rebuild", full=True)  # embedded, from everything
    assert _rows(runtime, product) == spark_rows  # row for row, floats, decimals and types included
    rebuilt = _build(runtime, product, "rebuild-spark", full=True, engine=runtime.engine_for(domain, name))
    assert rebuilt.details["engine"] == "spark"
    assert _rows(runtime, product) == spark_rows
    return on_spark


def _orders_silver(runtime: Runtime) -> tuple[Scan, int]:
    """A scan of orders' silver orders (an internal table: only orders may read it) and its rows."""
    _land_ingest_silver(runtime, "orders", _generated(runtime, "orders", count=200), "run-1")
    silver = TableId("orders", "silver_orders")
    store = runtime.store_for("orders", Layer.SILVER)
    rows = store.read(silver).num_rows
    assert rows > 100  # 167 orders of the 200 events: a read of none would equal a read of nothing
    return Scan("orders", silver, store.format, store.location(silver)), rows


def _live_tokens(settings: Settings) -> list[str]:
    with closing(CatalogService.open(settings.catalog_db_url)) as service:
        return [t.principal for t in service.list_tokens() if not t.revoked]


def test_the_engine_reads_as_the_product_owner_with_a_token_revoked_when_the_run_ends(
    spark_runtime: Callable[..., Runtime],
) -> None:
    runtime = spark_runtime("iceberg")
    scan, rows = _orders_silver(runtime)
    engine = runtime.engine_for("payments", "settlement_summary")
    assert engine is not None
    with pytest.raises(EngineError, match="403"):
        engine.compute(lambda orders: orders, [scan])
    own = runtime.engine_for("orders", "daily_revenue")
    assert own is not None
    assert own.compute(lambda orders: orders, [scan]).data.num_rows == rows
    assert sorted(_live_tokens(runtime.settings)) == ["orders", "payments"]  # each Sail its domain's token

    runtime.close()
    assert _live_tokens(runtime.settings) == []  # runs leave no live token piling up in the catalog


def test_with_a_catalog_service_each_domain_s_sail_reads_with_that_domain_s_own_token(
    spark_runtime: Callable[..., Runtime],
) -> None:
    runtime = spark_runtime("iceberg")
    scan, rows = _orders_silver(runtime)
    with closing(CatalogService.open(runtime.settings.catalog_db_url)) as service:
        orders_token, deployment_token = (
            service.create_token(d, "domain", actor="test") for d in ("orders", "payments")
        )
        with serve_in_thread(rest_app(runtime.settings, service)) as url:
            served = spark_runtime("iceberg", MESHLAKE_CATALOG_URL=url, MESHLAKE_CATALOG_TOKEN=deployment_token,
                                   MESHLAKE_CATALOG_DOMAIN_TOKENS=f"orders={orders_token}")  # fmt: skip
            orders = served.engine_for("orders", "daily_revenue")
            assert orders is not None
            assert orders.compute(lambda orders: orders, [scan]).data.num_rows == rows  # orders' own token
            payments = served.engine_for("payments", "settlement_summary")
            assert payments is not None
            with pytest.raises(EngineError, match="403"):  # no token of its own: the deployment's (payments here)
                payments.compute(lambda orders: orders, [scan])
            served.close()


def test_an_unreachable_spark_url_fails_the_build_and_leaves_the_product_as_it_was(
    spark_runtime: Callable[..., Runtime],
) -> None:
    runtime = spark_runtime("delta", MESHLAKE_SPARK_URL=f"sc://127.0.0.1:{free_port()}")
    _land_ingest_silver(runtime, "payments", _generated(runtime, "payments", count=300), "run-1")
    _build(runtime, "payments.settlement_summary", "run-1")
    before = _rows(runtime, "payments.settlement_summary")
    assert len(before) > 30  # 67 rows of the 300 events: "as it was" must not be "empty, as it was"
    store = runtime.store_for("payments", Layer.GOLD, "settlement_summary")
    history = store.history(TableId("payments", "settlement_summary"))
    engine = runtime.engine_for("payments", "settlement_summary")
    with pytest.raises(EngineError, match=r"Spark Connect at sc://127\.0\.0\.1:\d+ failed"):
        _build(runtime, "payments.settlement_summary", "run-2", full=True, engine=engine)
    assert store.history(TableId("payments", "settlement_summary")) == history
    assert _rows(runtime, "payments.settlement_summary") == before


def _stalling(transform: Callable[..., Any], started: Path, released: Path) -> Callable[..., Any]:
    """`transform` (portable), whose query stalls on the server once it runs: each row waits in a Python UDF
    that first touches `started` (Sail runs it in its own process), until `released` exists (at most 120 s)."""
    from pyspark.sql import functions as F

    marker, release = str(started), str(released)

    def stall(value: int) -> int:
        import pathlib
        import time

        pathlib.Path(marker).touch()
        ends = time.monotonic() + 120
        while not pathlib.Path(release).exists() and time.monotonic() < ends:
            time.sleep(0.1)
        return value

    def stalled(**frames: Any) -> Any:
        rows = transform(**frames)
        return rows.filter(F.udf(stall, "long")(F.lit(1)) == 1)

    setattr(stalled, PORTABLE_ATTRIBUTE, True)
    return stalled


def _signal_when_running(
    started: Path, runtime: Runtime, domain: str, signum: int = signal.SIGKILL, sent: list[int] | None = None
) -> None:
    """Send `signum` to the domain's Sail and whatever it started once the query runs (`started` appears);
    `sent` gets the process group signalled."""
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runtime._spark is not None
    pid = runtime._spark.servers[domain].pid
    assert pid is not None, "its Sail is not running"  # killpg(0) would kill this test's own process group
    os.killpg(pid, signum)
    if sent is not None:
        sent.append(pid)


def test_a_sail_killed_mid_query_fails_the_build_in_one_line_commits_nothing_and_a_new_sail_builds_once(
    spark_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime = spark_runtime("delta")
    _land_ingest_silver(runtime, "payments", _generated(runtime, "payments", count=300), "run-1")
    _build(runtime, "payments.settlement_summary", "run-1")  # embedded
    table = TableId("payments", "settlement_summary")
    store = runtime.store_for("payments", Layer.GOLD, "settlement_summary")
    history, before = store.history(table), _rows(runtime, "payments.settlement_summary")
    assert len(before) > 30  # 67 rows of the 300 events: "as it was" must not be "empty, as it was"
    domain, started = runtime.domain("payments"), tmp_path / "query-started"
    stalled = _stalling(domain.transforms["settlement_summary"], started, tmp_path / "released")
    runtime.domains["payments"] = dataclasses.replace(
        domain, transforms={**domain.transforms, "settlement_summary": stalled}
    )
    killer = threading.Thread(target=_signal_when_running, args=(started, runtime, "payments"), daemon=True)
    killer.start()
    with pytest.raises(EngineError) as failed:
        _build(runtime, "payments.settlement_summary", "run-2", full=True,
               engine=runtime.engine_for("payments", "settlement_summary"))  # fmt: skip
    killer.join(timeout=10)
    assert started.exists()  # the query was running on the server when it was killed
    assert re.fullmatch(r"Sail on sc://127\.0\.0\.1:\d+ stopped during the build \(killed by signal 9\); its log: \S+",
                        str(failed.value))  # fmt: skip
    assert store.history(table) == history and _rows(runtime, "payments.settlement_summary") == before

    (tmp_path / "released").touch()  # the re-run's UDF returns at once: a UDF looks the active session up
    engine = runtime.engine_for("payments", "settlement_summary")
    assert isinstance(engine, SparkEngine)  # the product's engine is Sail
    dead = engine._session  # the session on the killed Sail
    rerun = _build(runtime, "payments.settlement_summary", "run-3", full=True, engine=engine)
    assert rerun.details["engine"] == "spark" and rerun.details["spark_url"] not in str(failed.value)  # a new Sail
    assert dead is not None and dead.client.is_closed  # not left for pyspark to try again at the process's exit
    assert len(store.history(table)) == len(history) + 1  # built once
    assert _rows(runtime, "payments.settlement_summary") == before


def _state(runtime: Runtime) -> list[Any]:
    store = runtime.store_for("payments", Layer.GOLD, "settlement_summary")
    return [store.history(TableId("payments", "settlement_summary")), _rows(runtime, "payments.settlement_summary")]


def _stalled_payments(spark_runtime: Callable[..., Runtime], tmp_path: Path) -> tuple[Runtime, list[Any], Any]:
    """A runtime whose payments.settlement_summary was built (embedded) from the first events, the rest landed
    since, and whose transform now stalls on the server (see `_stalling`: `tmp_path/query-started`, released by
    `tmp_path/released`); the product's history and rows; the domain as it was."""
    runtime = spark_runtime("delta", MESHLAKE_SPARK_TIMEOUT_SECONDS="30")
    first, second = _split(_generated(runtime, "payments", count=600))
    _land_ingest_silver(runtime, "payments", first, "run-1")
    _build(runtime, "payments.settlement_summary", "run-1")  # embedded
    _land_ingest_silver(runtime, "payments", second, "run-2")
    domain = runtime.domain("payments")
    stalled = _stalling(domain.transforms["settlement_summary"], tmp_path / "query-started", tmp_path / "released")
    runtime.domains["payments"] = dataclasses.replace(
        domain, transforms={**domain.transforms, "settlement_summary": stalled}
    )
    return runtime, _state(runtime), domain


def _build_on_spark(runtime: Runtime, run: str) -> Any:
    """An incremental build of payments.settlement_summary on its engine: Sail writes the partitions itself."""
    return _build(runtime, "payments.settlement_summary", run,
                  engine=runtime.engine_for("payments", "settlement_summary"))  # fmt: skip


def _rebuilt_once(runtime: Runtime, before: list[Any], domain: Any) -> Any:
    """Re-run the build with the product's own transform: one commit, the oracle's rows."""
    runtime.domains["payments"] = domain
    rerun = _build_on_spark(runtime, "run-3")
    assert rerun.details["engine"] == "spark"
    assert len(_state(runtime)[0]) == len(before[0]) + 1  # built once
    assert _gold(runtime, "payments.settlement_summary") == _oracle(runtime, "payments.settlement_summary")
    return rerun


@pytest.mark.timeout(240)
def test_a_sail_busy_past_the_deadline_is_interrupted_the_build_fails_in_one_line_and_commits_nothing(
    spark_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime, before, domain = _stalled_payments(spark_runtime, tmp_path)
    started = tmp_path / "query-started"
    began = time.monotonic()
    with pytest.raises(EngineError) as failed:
        _build_on_spark(runtime, "run-2")
    took = time.monotonic() - began
    assert re.fullmatch(r"Sail on sc://127\.0\.0\.1:\d+: payments\.settlement_summary was not done within "
                        r"spark_timeout_seconds \(30 s\); its operations were interrupted",
                        str(failed.value))  # fmt: skip
    assert started.exists()  # the query ran on the server
    assert 30 <= took < 30 + 30  # the deadline, once Sail runs; Sail's start and the interrupt (a busy machine)
    assert _state(runtime) == before
    (tmp_path / "released").touch()  # the stalled rows would go on now, had the interrupt not ended the query
    time.sleep(5)
    assert _state(runtime) == before

    rerun = _rebuilt_once(runtime, before, domain)
    assert rerun.details["spark_url"] in str(failed.value)  # the same Sail, a new session


@pytest.mark.timeout(240)
def test_a_sail_stuck_mid_build_fails_it_at_its_deadline_in_one_line_commits_nothing_and_a_rerun_builds_once(
    spark_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime, before, domain = _stalled_payments(spark_runtime, tmp_path)
    started = tmp_path / "query-started"
    stopped: list[int] = []
    stopper = threading.Thread(
        target=_signal_when_running, args=(started, runtime, "payments", signal.SIGSTOP, stopped), daemon=True
    )
    stopper.start()
    began = time.monotonic()
    try:
        with pytest.raises(EngineError) as failed:
            _build_on_spark(runtime, "run-2")
        took = time.monotonic() - began
        stopper.join(timeout=10)
    finally:
        for pid in stopped:  # whatever happened, nothing stays stopped
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)
    assert re.fullmatch(r"Sail on sc://127\.0\.0\.1:\d+: payments\.settlement_summary was not done within "
                        r"spark_timeout_seconds \(30 s\); the server did not answer the interrupt within 10 s, so it "
                        r"was stopped", str(failed.value))  # fmt: skip
    assert started.exists() and stopped  # the query ran on the server when it stopped answering
    assert 30 + 10 <= took < 30 + 10 + 30  # the deadline, the interrupt's 10 s; Sail's start and stop (a busy machine)
    assert runtime._spark is not None and runtime._spark.servers["payments"].pid is None  # meshlake stopped it
    assert _state(runtime) == before

    rerun = _rebuilt_once(runtime, before, domain)
    assert rerun.details["spark_url"] not in str(failed.value)  # a new Sail


def _switching_engines_on_s3(
    runtime: Runtime, product: str, location: str
) -> tuple[BuildResult, BuildResult, list[dict[str, Any]]]:
    """On a runtime whose landing and warehouse are on S3: the product's first run embedded (its table under
    `location`), an incremental run on Sail equal to the oracle, then an embedded and a Sail full rebuild with the
    same rows as that run; returns the Sail run, the Sail rebuild and the rows."""
    domain, _, name = product.partition(".")
    first, second = _split(_generated(runtime, domain, count=1_500))
    _land(runtime, {domain: first}, [], "run-1")
    assert _build(runtime, product, "run-1").details["engine"] == "embedded"
    table = runtime.domain(domain).product_table(name)
    assert runtime.store_for(domain, Layer.GOLD, name).location(table).startswith(location)

    _land(runtime, {domain: second}, [], "run-2")
    on_spark = _build(runtime, product, "run-2", engine=runtime.engine_for(domain, name))
    assert (on_spark.details["engine"], on_spark.details["mode"]) == ("spark", "incremental")
    assert _gold(runtime, product) == _oracle(runtime, product)  # nothing skipped, nothing twice
    spark_rows = _rows(runtime, product)
    assert len(spark_rows) > 10  # the events landed on S3, where the runtime reads them
    _build(runtime, product, "rebuild", full=True)  # embedded, from everything
    assert _rows(runtime, product) == spark_rows  # row for row, decimals and types included
    rebuilt = _build(runtime, product, "rebuild-spark", full=True, engine=runtime.engine_for(domain, name))
    assert rebuilt.details["engine"] == "spark" and _rows(runtime, product) == spark_rows
    return on_spark, rebuilt, spark_rows


def _on_s3_only(runtime: Runtime, s3_server: Any, home: Path) -> None:
    """Each Sail of the run was given the S3 store with an explicit loopback endpoint, and the metadata service
    off, and the catalog on loopback; no landed or table file is on the local disk (only catalog databases, logs)."""
    assert runtime._spark is not None and runtime._spark.servers
    for sail in (server.environment or {} for server in runtime._spark.servers.values()):
        assert {k: sail.get(k) for k in ("AWS_ENDPOINT", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "AWS_ALLOW_HTTP",
                                         "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_EC2_METADATA_DISABLED")} == {
            "AWS_ENDPOINT": s3_server.endpoint, "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false", "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_EC2_METADATA_DISABLED": "true",
        }  # fmt: skip
        assert re.search(r'uri="http://127\.0\.0\.1:\d+/iceberg"', sail["SAIL_CATALOG__LIST"])
    assert s3_server.endpoint.startswith("http://127.0.0.1:")  # the store, the catalog, the region: none outside
    local = [p.relative_to(home) for p in home.rglob("*") if p.is_file()]
    assert [p for p in local if not (p.name.startswith("catalog.db") or p.suffix == ".log")] == []


def _s3_runtime(spark_runtime: Callable[..., Runtime], fmt: str, s3_server: Any, s3_prefix: str) -> Runtime:
    return spark_runtime(fmt, MESHLAKE_WAREHOUSE=f"{s3_prefix}/warehouse", MESHLAKE_LANDING=f"{s3_prefix}/landing",
                         MESHLAKE_S3_ENDPOINT=s3_server.endpoint, MESHLAKE_S3_ACCESS_KEY_ID=s3_server.access_key,
                         MESHLAKE_S3_SECRET_ACCESS_KEY=s3_server.secret_key)  # fmt: skip


@pytest.mark.parametrize("product", ["orders.daily_revenue", "payments.settlement_summary"])
def test_sail_builds_a_delta_product_on_s3_at_its_location_with_the_rows_of_the_embedded_engine(
    spark_runtime: Callable[..., Runtime], s3_server: SeaweedServer, s3_prefix: str, tmp_path: Path, product: str
) -> None:
    runtime = _s3_runtime(spark_runtime, "delta", s3_server, s3_prefix)
    on_spark, _, _ = _switching_engines_on_s3(runtime, product, f"{s3_prefix}/warehouse/delta/")
    assert on_spark.details["writer"] == "spark"  # Sail read silver and wrote gold's partitions on S3 itself
    _on_s3_only(runtime, s3_server, tmp_path / "home")


def test_sail_builds_an_iceberg_product_on_s3_reading_by_name_with_the_rows_of_the_embedded_engine(
    spark_runtime: Callable[..., Runtime], s3_server: SeaweedServer, s3_prefix: str, tmp_path: Path
) -> None:
    runtime = _s3_runtime(spark_runtime, "iceberg", s3_server, s3_prefix)
    domain, name = "orders", "daily_revenue"
    on_spark, rebuilt, rows = _switching_engines_on_s3(runtime, f"{domain}.{name}", f"{s3_prefix}/warehouse/iceberg/")
    assert "writer" not in on_spark.details  # Sail read silver by name and computed; meshlake committed

    publish_product(runtime.domain(domain), name, rebuilt, runtime.registry(domain), "publish", "iceberg")
    payments = runtime.engine_for("payments", "settlement_summary")  # another domain's Sail, with its own token
    assert payments is not None
    table, gold = runtime.domain(domain).product_table(name), runtime.store_for(domain, Layer.GOLD, name)
    public = Scan("revenue", table, gold.format, gold.location(table))  # a public product: payments may read it
    assert payments.compute(lambda revenue: revenue, [public]).data.num_rows == len(rows)
    silver_store, silver = runtime.store_for(domain, Layer.SILVER), TableId(domain, "silver_orders")
    internal = Scan("orders", silver, silver_store.format, silver_store.location(silver))  # orders' own table
    with pytest.raises(EngineError, match=r"^Sail on sc://127\.0\.0\.1:\d+ failed: .*orders\.silver_orders.*403"):
        payments.compute(lambda orders: orders, [internal])
    _on_s3_only(runtime, s3_server, tmp_path / "home")


def _objects(runtime: Runtime, folder: str) -> list[tuple[str, int]]:
    """Every object under the `s3://` folder (path, size), listed with the warehouse's key."""
    store = S3Backend(runtime.storage_options)
    found = store.filesystem().get_file_info(fs.FileSelector(store.fs_path(folder), recursive=True))
    return sorted((info.path, info.size or 0) for info in found if info.type == fs.FileType.File)


def _table_folder(fmt: str, location: str) -> str:
    """The folder of a table's files: a Delta table's location, an Iceberg metadata file's table folder."""
    return location if fmt == "delta" else location.rsplit("/metadata/", 1)[0]


def _planting(fmt: str, folder: str) -> Callable[[Any], Any]:
    """A transform that writes 5 of its rows into another domain's table by its `s3://` path: a Delta commit at
    the table's location, Parquet data files into an Iceberg table's data folder."""

    def planting(facts: Any) -> Any:
        if fmt == "delta":
            facts.limit(5).write.format("delta").mode("append").save(folder)
        else:
            facts.limit(5).write.mode("append").parquet(f"{folder}/data")
        return facts

    return planting


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_domain_s_sail_on_s3_has_its_own_writer_key_builds_its_gold_and_cannot_write_another_domain_s_tables(
    spark_runtime: Callable[..., Runtime], tmp_path: Path, fmt: str
) -> None:
    with local_object_store(tmp_path / "store", ["orders", "shipping"]) as store:  # the keys `meshlake dev` makes
        runtime = spark_runtime(fmt, **store.variables())
        product = "shipping.order_fulfilment"  # reads orders.order_facts and shipping.deliveries
        on_spark = _builds_the_rows_of_the_embedded_engine(runtime, product)
        # Delta: shipping's Sail wrote the product's partitions itself; Iceberg: it read by name, meshlake committed
        assert on_spark.details.get("writer") == ("spark" if fmt == "delta" else None)

        facts, gold = runtime.domain("orders").product_table("order_facts"), runtime.store_for("orders", Layer.GOLD)
        before, location = gold.read(facts), gold.location(facts)
        folder = _table_folder(fmt, location)
        assert before.num_rows > 100 and folder.startswith(f"s3://meshlake/warehouse/{fmt}/orders/")
        objects = _objects(runtime, folder)
        assert objects  # the listing sees the table's files

        engine = runtime.engine_for("shipping", "order_fulfilment")
        assert engine is not None
        with pytest.raises(EngineError, match=r"^Sail on sc://127\.0\.0\.1:\d+ failed: .*403 Forbidden"):
            engine.compute(_planting(fmt, folder), [Scan("facts", facts, gold.format, location)])
        assert gold.read(facts).equals(before)  # orders' table as it was
        assert _objects(runtime, folder) == objects  # and no object left in its folder

        assert runtime._spark is not None
        sail = runtime._spark.servers["shipping"].environment or {}
        shipping = store.writers["shipping"]
        assert (sail["AWS_ACCESS_KEY_ID"], sail["AWS_SECRET_ACCESS_KEY"]) == (shipping.access_key, shipping.secret_key)
        orders = store.writers["orders"]
        others = {store.server.access_key, store.server.secret_key, store.reader.secret_key, orders.secret_key}
        assert not others & set(sail.values())  # neither the warehouse's key nor another one, under any name
        assert sail["AWS_ENDPOINT"] == store.server.endpoint and sail["AWS_EC2_METADATA_DISABLED"] == "true"
