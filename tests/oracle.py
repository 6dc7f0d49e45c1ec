"""Gold products computed again, in plain Python over the landed events, as tests' independent oracle.

It shares nothing with the pipeline but the message classes: its own framing reader and contract
rules (`tests.landed`), dedup by event id, and "the newest event of each kind wins" per entity, in
dictionaries. Amounts are Decimals from the cents on the wire.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from tests.landed import landed

SLA_HOURS = 96
CENT = Decimal("0.01")
Rows = TypeVar("Rows", bound=dict[Any, Any])


def _time(message: Any, field: str) -> datetime:
    at: datetime = getattr(message, field).ToDatetime(tzinfo=UTC)
    return at


def _money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def _found(product: str, rows: Rows) -> Rows:
    """`rows`, which must not be empty: an oracle of no landed events (none landed, or not where the runtime
    reads them) equals a product built from nothing, and a test comparing the two could not fail."""
    assert rows, f"the oracle found no landed events for {product}: nothing to compare with"
    return rows


def latest(runtime: Any, domain: str, event: str, key: str, time_field: str) -> dict[str, Any]:
    """The newest valid event per key (by event time, then sequence, then event id), duplicates ignored."""
    seen: set[str] = set()
    best: dict[str, tuple[tuple[datetime, int, str], Any]] = {}
    for item in landed(runtime, domain, event):
        msg = item.message
        if not item.valid or msg.event_id in seen:
            continue
        seen.add(msg.event_id)
        version = (_time(msg, time_field), msg.sequence, msg.event_id)
        k = getattr(msg, key)
        if k not in best or version > best[k][0]:
            best[k] = (version, msg)
    return {k: v[1] for k, v in best.items()}


def orders_world(runtime: Any) -> tuple[dict[str, Any], set[str], dict[str, Any]]:
    """Placed orders by id, ids of cancelled orders, returns by return id."""
    placed = latest(runtime, "orders", "order_placed", "order_id", "placed_at")
    cancelled = set(latest(runtime, "orders", "order_cancelled", "order_id", "cancelled_at"))
    returns = latest(runtime, "orders", "order_item_returned", "return_id", "returned_at")
    return placed, cancelled, returns


def order_facts(runtime: Any) -> dict[str, tuple[date, str, str, Decimal, str, Decimal, int]]:
    """order id → (day placed, country, currency, total, status, returned, returned units), of placed orders."""
    placed, cancelled, returns = orders_world(runtime)
    returned: dict[str, tuple[Decimal, int]] = defaultdict(lambda: (Decimal(0), 0))
    for msg in returns.values():
        amount, units = returned[msg.order_id]
        returned[msg.order_id] = (amount + _money(msg.refund_cents), units + msg.quantity)
    return _found("order_facts", {
        order_id: (_time(msg, "placed_at").date(), msg.country, msg.currency, _money(msg.total_cents),
                   "cancelled" if order_id in cancelled else "placed", *returned.get(order_id, (Decimal(0), 0)))
        for order_id, msg in placed.items()
    })  # fmt: skip


def daily_revenue(runtime: Any) -> dict[tuple[date, str, str], tuple[Decimal, int, int, int, Decimal, Decimal]]:
    """(day, country, currency) → (revenue, orders, customers, cancelled orders, returned, net revenue)."""
    placed, cancelled, returns = orders_world(runtime)
    returned: dict[str, Decimal] = defaultdict(Decimal)
    for msg in returns.values():
        returned[msg.order_id] += _money(msg.refund_cents)
    groups: dict[tuple[date, str, str], list[Any]] = defaultdict(lambda: [Decimal(0), 0, set(), 0, Decimal(0)])
    for order_id, msg in placed.items():
        group = groups[(_time(msg, "placed_at").date(), msg.country, msg.currency)]
        if order_id in cancelled:
            group[3] += 1
            continue
        group[0] += _money(msg.total_cents)
        group[1] += 1
        group[2].add(msg.customer_id)
        group[4] += returned.get(order_id, Decimal(0))
    return _found("daily_revenue", {k: (v[0], v[1], len(v[2]), v[3], v[4], v[0] - v[4]) for k, v in groups.items()})


def settlement_summary(runtime: Any) -> dict[tuple[date, str], tuple[Decimal, int, Decimal, int, Decimal]]:
    """(day, currency) → (captured, captures, refunded, refunds, net)."""
    captures = latest(runtime, "payments", "payment_captured", "payment_id", "captured_at")
    refunds = latest(runtime, "payments", "refund_issued", "refund_id", "refunded_at")
    groups: dict[tuple[date, str], list[Any]] = defaultdict(lambda: [Decimal(0), 0, Decimal(0), 0])
    for msg in captures.values():
        group = groups[(_time(msg, "captured_at").date(), msg.currency)]
        group[0] += _money(msg.amount_cents)
        group[1] += 1
    for msg in refunds.values():
        group = groups[(_time(msg, "refunded_at").date(), msg.currency)]
        group[2] += _money(msg.amount_cents)
        group[3] += 1
    return _found("settlement_summary", {k: (v[0], v[1], v[2], v[3], v[0] - v[2]) for k, v in groups.items()})


def order_fulfilment(runtime: Any) -> dict[tuple[date, str], tuple[int, float, int]]:
    """(Monday of delivery, order country) → (delivered orders, mean hours placed→delivered, SLA breaches)."""
    placed, _, _ = orders_world(runtime)
    dispatched = latest(runtime, "shipping", "shipment_dispatched", "shipment_id", "dispatched_at")
    delivered = latest(runtime, "shipping", "shipment_delivered", "shipment_id", "delivered_at")
    groups: dict[tuple[date, str], list[float]] = defaultdict(list)
    for shipment_id, msg in delivered.items():
        if shipment_id not in dispatched or dispatched[shipment_id].order_id not in placed:
            continue
        order = placed[dispatched[shipment_id].order_id]
        at = _time(msg, "delivered_at")
        hours = (at - _time(order, "placed_at")).total_seconds() / 3600
        groups[(at.date() - timedelta(days=at.weekday()), order.country)].append(hours)
    return _found(
        "order_fulfilment", {k: (len(v), sum(v) / len(v), sum(h > SLA_HOURS for h in v)) for k, v in groups.items()}
    )


def _enum_text(message: Any, field: str, prefix: str) -> str:
    """An enum field's name as lower-case text without its prefix (`CARRIER_DHL` → `dhl`)."""
    values = message.DESCRIPTOR.fields_by_name[field].enum_type.values_by_number
    return str(values[getattr(message, field)].name).removeprefix(prefix).lower()


def parcels_by_carrier(runtime: Any) -> dict[tuple[str, str], tuple[int, Decimal, int]]:
    """(carrier, order currency) → (dispatched parcels of placed orders, those orders' total, failed attempts):
    the demo's question across domains (`MESH_SQL`), each parcel counting its order's total once."""
    facts = order_facts(runtime)
    dispatched = latest(runtime, "shipping", "shipment_dispatched", "shipment_id", "dispatched_at")
    failed = latest(runtime, "shipping", "delivery_failed", "shipment_id", "failed_at")
    groups: dict[tuple[str, str], tuple[int, Decimal, int]] = {}
    for shipment_id, msg in dispatched.items():
        if (order := facts.get(msg.order_id)) is None:
            continue
        key = (_enum_text(msg, "carrier", "CARRIER_"), order[2])
        parcels, value, attempts = groups.get(key, (0, Decimal(0), 0))
        attempts += failed[shipment_id].attempt if shipment_id in failed else 0
        groups[key] = (parcels + 1, value + order[3], attempts)
    return _found("parcels_by_carrier", groups)


def mesh_answer(runtime: Any) -> list[tuple[str, str, int, Decimal, int]]:
    """What `MESH_SQL` answers, from `parcels_by_carrier`: (carrier, currency, parcels, order value, failed attempts),
    the 8 of the highest order value."""
    rows = [(*key, *value) for key, value in parcels_by_carrier(runtime).items()]
    return sorted(rows, key=lambda row: -row[3])[:8]


def mesh_rows(answer: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """`MESH_SQL`'s rows (as `to_pylist` gives them) in the shape of `mesh_answer`."""
    return [(r["carrier"], r["currency"], r["parcels"], r["order_value"], r["failed"]) for r in answer]
