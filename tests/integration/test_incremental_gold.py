"""Gold on real tables: a run recomputes only the partitions its inputs' changes touch.

Each product is built from the first arrivals, then updated after the rest (new, late and replayed
events) and compared with the independent oracle over the landed events and with a full rebuild;
rows read are counted, not timed.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from datetime import date
from typing import Any

import pyarrow.compute as pc
import pytest

from pipelines.adapters.landing import write_landing_file
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.ports import incremental
from pipelines.services.build import PartitionWindow, build_product, build_silver, published_inputs
from pipelines.services.build_types import BuildResult
from pipelines.services.ingest import ingest_event
from pipelines.services.maintenance import maintain_domain
from tests import oracle


def _generated(runtime: Runtime, domain: str, count: int = 6_000, seed: int = 3) -> list[tuple[str, Any]]:
    spec = runtime.domain(domain)
    classes = {e.message: runtime.schemas.message_class(e.message) for e in spec.spec.events.values()}
    assert spec.generator is not None
    return list(spec.generator(classes, count, seed))


def _land_ingest_silver(runtime: Runtime, domain_name: str, events: list[tuple[str, Any]], name: str) -> int:
    """Land `events` as one file per event type where the runtime's landing source reads (a local folder or an
    object store prefix), ingest them and update silver; returns silver's rows."""
    domain = runtime.domain(domain_name)
    by_event: dict[str, list[bytes]] = {}
    for event, message in events:
        by_event.setdefault(event, []).append(message.SerializeToString())
    for event, payloads in by_event.items():
        write_landing_file(runtime.landing.location, domain_name, event, name, payloads)
    for event in domain.spec.events:
        ingest_event(domain, event, runtime.contract(domain_name, event), runtime.landing, runtime, name)
    return sum(build_silver(domain, entity, runtime, name).rows for entity in domain.spec.entities)


def _build(runtime: Runtime, product: str, run: str, **options: Any) -> BuildResult:
    domain_name, _, name = product.partition(".")
    published = published_inputs(domain_name, [d.spec for d in runtime.domains.values()])
    return build_product(runtime.domain(domain_name), name, runtime, run, published, **options)


def _gold(runtime: Runtime, product: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The product's rows as the oracle gives them: key → measures."""
    domain, _, name = product.partition(".")
    rows = runtime.store_for(domain, Layer.GOLD, name).read(runtime.domain(domain).product_table(name)).to_pylist()
    if name == "settlement_summary":
        return {(r["day"], r["currency"]): (r["captured"], r["captures"], r["refunded"], r["refunds"], r["net"])
                for r in rows}  # fmt: skip
    if name == "daily_revenue":
        return {(r["day"], r["country"], r["currency"]): (r["revenue"], r["orders"], r["customers"],
                                                          r["cancelled_orders"], r["returned"], r["net_revenue"])
                for r in rows}  # fmt: skip
    return {(r["week"], r["country"]): (r["delivered_orders"], round(r["mean_hours"], 6), r["sla_breaches"])
            for r in rows}  # fmt: skip


def _oracle(runtime: Runtime, product: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    expected: dict[tuple[Any, ...], tuple[Any, ...]] = getattr(oracle, product.partition(".")[2])(runtime)
    if product == "shipping.order_fulfilment":
        return {k: (n, round(mean, 6), breaches) for k, (n, mean, breaches) in expected.items()}
    return expected


def _split(events: list[tuple[str, Any]]) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """The first 98% of arrivals, and the last 2% with 20 of the first replayed (duplicates)."""
    cut = len(events) - len(events) // 50
    return events[:cut], events[cut:] + events[:20]


CASES = {
    # product: (domains whose events it needs, products of those domains built before it)
    "payments.settlement_summary": (["payments"], []),
    "orders.daily_revenue": (["orders"], []),
    "shipping.order_fulfilment": (["orders", "shipping"], ["orders.order_facts", "shipping.deliveries"]),
}


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
@pytest.mark.parametrize("product", sorted(CASES))
def test_a_run_after_new_events_recomputes_only_the_partitions_they_touch_and_equals_a_rebuild(
    make_runtime: Callable[..., Runtime], fmt: str, product: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "ROWS_PER_FILE", 256)  # files as in a large table: many, each a key range
    runtime = make_runtime(fmt)
    domains, upstream = CASES[product]
    halves = {domain: _split(_generated(runtime, domain)) for domain in domains}
    for domain in domains:
        _land_ingest_silver(runtime, domain, halves[domain][0], "run-1")
    for name in upstream:
        _build(runtime, name, "run-1")
    first = _build(runtime, product, "run-1")
    assert first.details["mode"] == "full"

    for domain in domains:
        _land_ingest_silver(runtime, domain, halves[domain][1], "run-2")
    for name in upstream:
        _build(runtime, name, "run-2")
    second = _build(runtime, product, "run-2")
    assert second.details["mode"] == "incremental"
    built = _gold(runtime, product)
    assert built == _oracle(runtime, product)
    partitions, touched = {str(key[0]) for key in built}, second.details["partitions"]
    assert 0 < len(touched) < len(partitions) and set(touched) <= partitions  # the recent ones, not all
    assert 0 < second.details["rows_read"] <= first.details["rows_read"] * 3 // 4  # those partitions: fewer rows
    assert second.details["changed_rows_read"] < first.details["rows_read"]  # inputs rewrite only what changed

    third = _build(runtime, product, "run-3")
    assert (third.details["mode"], third.details["partitions"], third.details["rows_read"]) == ("incremental", [], 0)

    rebuilt = _build(runtime, product, "backfill", full=True)
    assert rebuilt.details["mode"] == "full" and rebuilt.details["rows_read"] > second.details["rows_read"]
    assert _gold(runtime, product) == built


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_late_return_recomputes_the_day_its_order_was_placed_found_by_key(
    make_runtime: Callable[..., Runtime], fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "ROWS_PER_FILE", 256)
    runtime = make_runtime(fmt)
    events = _generated(runtime, "orders")
    silver_rows = _land_ingest_silver(runtime, "orders", events, "run-1")
    _build(runtime, "orders.daily_revenue", "run-1")
    placed = {m.order_id: m for name, m in events if name == "order_placed" and m.order_id and m.placed_at.seconds}
    returned = next(m for name, m in events if name == "order_item_returned" and m.order_id in placed and m.return_id)
    late = copy.deepcopy(returned)
    late.event_id, late.return_id, late.refund_cents = "late-return", "R-LATE", 12_345
    day = placed[late.order_id].placed_at.ToDatetime().date()

    _land_ingest_silver(runtime, "orders", [("order_item_returned", late)], "run-2")
    run = _build(runtime, "orders.daily_revenue", "run-2")
    assert (run.details["mode"], run.details["partitions"]) == ("incremental", [str(day)])
    assert run.details["changed_rows_read"] < silver_rows // 10  # the changed returns file and the order's files
    assert run.details["rows_read"] < silver_rows // 10
    assert _gold(runtime, "orders.daily_revenue") == oracle.daily_revenue(runtime)


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_named_partitions_are_recomputed_completely_and_the_rest_on_the_next_update(
    make_runtime: Callable[..., Runtime], fmt: str
) -> None:
    runtime = make_runtime(fmt)
    first, later = _split(_generated(runtime, "payments"))
    _land_ingest_silver(runtime, "payments", first, "run-1")
    _build(runtime, "payments.settlement_summary", "run-1")
    table = runtime.domain("payments").product_table("settlement_summary")
    store = runtime.store_for("payments", Layer.GOLD, "settlement_summary")
    day = min(_gold(runtime, "payments.settlement_summary"))[0]
    broken = store.read(table)
    store.overwrite(table, broken.filter(pc.field("day") != day))  # a day lost: only a recompute brings it back
    _land_ingest_silver(runtime, "payments", later, "run-2")  # changes in the latest days, not in `day`

    backfill = _build(
        runtime,
        "payments.settlement_summary",
        "backfill",
        window=PartitionWindow(day, date.fromordinal(day.toordinal() + 1)),
    )
    assert (backfill.details["mode"], backfill.details["partitions"]) == ("partitions", [str(day)])
    repaired = _gold(runtime, "payments.settlement_summary")
    expected = oracle.settlement_summary(runtime)
    assert {k: v for k, v in repaired.items() if k[0] == day} == {k: v for k, v in expected.items() if k[0] == day}
    assert repaired != expected  # the other days' changes are not read by a backfill of one day ...

    update = _build(runtime, "payments.settlement_summary", "run-3")  # ... but by the next update
    assert update.details["mode"] == "incremental" and str(day) not in update.details["partitions"]
    assert _gold(runtime, "payments.settlement_summary") == expected


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_cross_domain_product_stays_incremental_after_its_input_domains_maintenance(
    make_runtime: Callable[..., Runtime], fmt: str
) -> None:
    runtime = make_runtime(fmt)
    halves = {domain: _split(_generated(runtime, domain, 3_000)) for domain in ("orders", "shipping")}
    for run, half in (("run-1", 0), ("run-2", 1)):
        for domain in halves:
            _land_ingest_silver(runtime, domain, halves[domain][half], run)
        _build(runtime, "orders.order_facts", run)  # a new version of orders' product ...
        _build(runtime, "shipping.deliveries", run)
        if half == 0:
            _build(runtime, "shipping.order_fulfilment", run)
    orders = runtime.domain("orders")
    settings = {"retention_hours": 0, "orphan_age_hours": 0, "min_small_files": 2}  # expire every older version
    aggressive = dataclasses.replace(orders, spec=orders.spec.model_copy(update={
        "maintenance": orders.spec.maintenance.model_copy(update=settings)}))  # fmt: skip
    maintain_domain(aggressive, runtime, readers=runtime.domains.values())  # ... but the one shipping read is kept

    update = _build(runtime, "shipping.order_fulfilment", "run-2")
    assert update.details["mode"] == "incremental", update.details.get("full_read_reason")
    assert _gold(runtime, "shipping.order_fulfilment") == _oracle(runtime, "shipping.order_fulfilment")
