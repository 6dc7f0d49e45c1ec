"""The orders transforms on small hand-made frames: conforming events, order state, revenue."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from domains.orders.transforms import (
    conform_order_cancelled,
    conform_order_item_returned,
    conform_order_placed,
    daily_revenue,
    finish_orders,
    order_facts,
)
from pipelines.core import entity_state as es

T1 = datetime(2026, 10, 1, 10, tzinfo=UTC)
T2 = datetime(2026, 10, 1, 23, 59, 59, tzinfo=UTC)
T3 = datetime(2026, 10, 2, 0, 0, 1, tzinfo=UTC)
MAP = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))


def _placed(
    event_id: str,
    order_id: str,
    placed_at: datetime,
    total_cents: int,
    *,
    customer: str = "C1",
    country: str = "DE",
    coupon: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "order_id": order_id,
        "customer_id": customer,
        "placed_at": placed_at,
        "status": "ORDER_STATUS_PLACED",
        "items": [
            {"sku": "S", "quantity": 2, "unit_price_cents": 10},
            {"sku": "T", "quantity": 1, "unit_price_cents": 5},
        ],
        "total_cents": total_cents,
        "currency": "EUR",
        "country": country,
        "attributes": [{"key": "channel", "value": "app"}, {"key": "device", "value": "mobile"}],
        "coupon_code": coupon,
        "sequence": 1,
    }


def _placed_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema_overrides={"attributes": MAP})
    return frame.with_columns(pl.col("attributes").cast(pl.Map(pl.String, pl.String)))


def _changes(event: str, conformed: pl.DataFrame, rows: pl.DataFrame, time_column: str) -> pl.DataFrame:
    return es.with_versions(
        conformed.with_columns(
            rows[time_column].alias(es.EVENT_TIME),
            rows["sequence"].alias(es.SEQUENCE),
            rows["event_id"].alias(es.EVENT_ID),
        )
    )


def test_conform_order_placed_turns_cents_into_money_and_reads_the_basket() -> None:
    rows = _placed_frame([_placed("e1", "O1", T1, 1999, coupon="VIP20")])
    order = conform_order_placed(rows).row(0, named=True)
    assert order["total"] == Decimal("19.99")
    assert conform_order_placed(rows).schema["total"] == pl.Decimal(18, 2)
    assert (order["line_items"], order["units"]) == (2, 3)
    assert (order["channel"], order["coupon_code"]) == ("app", "VIP20")
    assert order["placed_at"] == T1


def test_conform_cancellation_and_return_give_readable_enums_and_money() -> None:
    cancelled = pl.DataFrame(
        {"event_id": ["e9"], "order_id": ["O1"], "cancelled_at": [T2], "reason": ["CANCEL_REASON_OUT_OF_STOCK"]}
    )
    assert conform_order_cancelled(cancelled).row(0, named=True)["cancel_reason"] == "out_of_stock"
    returned = pl.DataFrame(
        {
            "event_id": ["r1"],
            "return_id": ["R1"],
            "order_id": ["O1"],
            "sku": ["S"],
            "quantity": [1],
            "refund_cents": [1050],
            "currency": ["EUR"],
            "returned_at": [T3],
            "reason": ["RETURN_REASON_WRONG_SIZE"],
        }
    )
    row = conform_order_item_returned(returned).row(0, named=True)
    assert (row["refund"], row["return_reason"]) == (Decimal("10.50"), "wrong_size")


def test_a_cancellation_that_arrives_before_its_order_still_cancels_it() -> None:
    placed_rows = _placed_frame([_placed("e1", "O1", T1, 1999)])
    cancel_rows = pl.DataFrame(
        {"event_id": ["e2"], "order_id": ["O1"], "cancelled_at": [T2], "reason": ["CANCEL_REASON_FRAUD_SUSPECTED"],
         "sequence": [2]}
    )  # fmt: skip
    placed = _changes("order_placed", conform_order_placed(placed_rows), placed_rows, "placed_at")
    cancelled = _changes("order_cancelled", conform_order_cancelled(cancel_rows), cancel_rows, "cancelled_at")
    empty_placed = placed.clear()
    first = es.merge_state(pl.DataFrame(), {"order_placed": empty_placed, "order_cancelled": cancelled}, "order_id")
    assert finish_orders(first).row(0, named=True)["status"] == "cancelled"
    later = es.merge_state(first, {"order_placed": placed, "order_cancelled": cancelled.clear()}, "order_id")
    order = finish_orders(later).row(0, named=True)
    assert (order["status"], order["total"], order["cancel_reason"]) == (
        "cancelled",
        Decimal("19.99"),
        "fraud_suspected",
    )


def _orders() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": ["O1", "O2", "O3", "O4", "O5"],
            "customer_id": ["C1", "C1", "C2", "C3", "C4"],
            "placed_at": [T1, T2, T2, T3, None],
            "status": ["placed", "placed", "placed", "cancelled", "cancelled"],
            "total": [Decimal("1.10"), Decimal("2.20"), Decimal("3.30"), Decimal("9.99"), None],
            "currency": ["EUR"] * 5,
            "country": ["DE"] * 5,
            "cancelled_at": [None, None, None, T3, T3],
            "line_items": [1, 1, 1, 1, None],
            "units": [1, 1, 1, 1, None],
        },
        schema_overrides={"total": pl.Decimal(18, 2)},
    )


def _returns() -> pl.DataFrame:
    return pl.DataFrame(
        {"return_id": ["R1"], "order_id": ["O2"], "quantity": [1], "refund": [Decimal("1.00")]},
        schema_overrides={"refund": pl.Decimal(18, 2)},
    )


def test_daily_revenue_counts_orders_that_stand_and_subtracts_their_returns() -> None:
    gold = daily_revenue(_orders(), _returns())
    assert gold.to_dicts() == [
        {
            "day": date(2026, 10, 1),
            "country": "DE",
            "currency": "EUR",
            "revenue": Decimal("6.60"),
            "orders": 3,
            "customers": 2,
            "cancelled_orders": 0,
            "returned": Decimal("1.00"),
            "net_revenue": Decimal("5.60"),
        },
        {
            "day": date(2026, 10, 2),
            "country": "DE",
            "currency": "EUR",
            "revenue": Decimal("0.00"),
            "orders": 0,
            "customers": 0,
            "cancelled_orders": 1,
            "returned": Decimal("0.00"),
            "net_revenue": Decimal("0.00"),
        },
    ]


def test_order_facts_has_one_row_per_placed_order_and_no_customer_id() -> None:
    facts = order_facts(_orders(), _returns())
    assert facts["order_id"].to_list() == ["O1", "O2", "O3", "O4"]  # O5: only its cancellation arrived so far
    assert "customer_id" not in facts.columns
    assert facts.filter(pl.col("order_id") == "O2").row(0, named=True)["returned"] == Decimal("1.00")
