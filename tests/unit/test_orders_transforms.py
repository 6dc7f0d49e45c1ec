"""The orders transforms on small hand-made frames: dedup, latest state, daily revenue."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl

from domains.orders.transforms import daily_revenue, silver_orders


def _event(
    event_id,
    order_id,
    placed_at,
    total_cents,
    offset,
    *,
    customer="C1",
    country="DE",
    status="ORDER_STATUS_PLACED",
):
    return {
        "event_id": event_id,
        "order_id": order_id,
        "customer_id": customer,
        "placed_at": placed_at,
        "status": status,
        "items": [
            {"sku": "S", "quantity": 2, "unit_price_cents": 10},
            {"sku": "T", "quantity": 1, "unit_price_cents": 5},
        ],
        "total_cents": total_cents,
        "currency": "EUR",
        "country": country,
        "coupon_code": None,
        "_ingest": {"source": "f.pb", "offset": offset},
    }


T1 = datetime(2026, 10, 1, 10, tzinfo=UTC)
T2 = datetime(2026, 10, 1, 23, 59, 59, tzinfo=UTC)
T3 = datetime(2026, 10, 2, 0, 0, 1, tzinfo=UTC)


def test_silver_drops_duplicate_events_and_keeps_latest_state_per_order():
    bronze = pl.DataFrame(
        [
            _event("e1", "O1", T1, 1999, 0),
            _event("e1", "O1", T1, 1999, 40),  # producer retry
            _event("e3", "O2", T3, 500, 80),
            _event("e2", "O2", T2, 400, 120, status="ORDER_STATUS_PAID"),  # late, older than e3
        ]
    )
    silver = silver_orders(bronze)
    assert silver["order_id"].to_list() == ["O1", "O2"]
    o2 = silver.filter(pl.col("order_id") == "O2").row(0, named=True)
    assert o2["last_event_id"] == "e3"
    assert o2["total"] == Decimal("5.00")
    assert o2["status"] == "placed"
    o1 = silver.filter(pl.col("order_id") == "O1").row(0, named=True)
    assert o1["total"] == Decimal("19.99")
    assert o1["line_items"] == 2
    assert o1["units"] == 3
    assert silver.schema["total"] == pl.Decimal(18, 2)


def test_daily_revenue_groups_by_utc_day_country_currency():
    orders = pl.DataFrame(
        {
            "order_id": ["O1", "O2", "O3", "O4"],
            "customer_id": ["C1", "C1", "C2", "C3"],
            "placed_at": [T1, T2, T2, T3],
            "status": ["placed", "placed", "placed", "cancelled"],
            "total": [Decimal("1.10"), Decimal("2.20"), Decimal("3.30"), Decimal("9.99")],
            "currency": ["EUR"] * 4,
            "country": ["DE", "DE", "DE", "DE"],
        },
        schema_overrides={"total": pl.Decimal(18, 2)},
    )
    gold = daily_revenue(orders)
    assert gold.to_dicts() == [
        {
            "day": date(2026, 10, 1),
            "country": "DE",
            "currency": "EUR",
            "revenue": Decimal("6.60"),
            "orders": 3,
            "customers": 2,
        }
    ]
