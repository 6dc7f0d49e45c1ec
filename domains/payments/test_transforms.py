"""The payments transforms: captures and refunds settle per day and currency."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl

from domains.payments.transforms import (
    conform_payment_authorized,
    conform_payment_captured,
    finish_payments,
    settlement_summary,
)

MONEY = pl.Decimal(18, 2)
D1 = datetime(2026, 10, 1, 12, tzinfo=UTC)
D2 = datetime(2026, 10, 2, 9, tzinfo=UTC)


def test_conform_keeps_no_card_digits_and_names_the_method() -> None:
    rows = pl.DataFrame(
        {
            "event_id": ["e1"],
            "payment_id": ["P1"],
            "order_id": ["O1"],
            "customer_id": ["C1"],
            "amount_cents": [12345],
            "currency": ["EUR"],
            "method": ["PAYMENT_METHOD_KLARNA"],
            "authorized_at": [D1],
            "card_last4": ["4242"],
        }
    )
    row = conform_payment_authorized(rows).row(0, named=True)
    assert (row["authorized_amount"], row["method"]) == (Decimal("123.45"), "klarna")
    assert "card_last4" not in conform_payment_authorized(rows).columns
    captured = pl.DataFrame({"payment_id": ["P1"], "amount_cents": [12345], "currency": ["EUR"], "captured_at": [D2]})
    assert conform_payment_captured(captured).row(0, named=True)["captured_currency"] == "EUR"


def test_status_is_captured_once_a_capture_is_known() -> None:
    state = pl.DataFrame({"payment_id": ["P1", "P2"], "captured_at": [D1, None]})
    assert finish_payments(state)["status"].to_list() == ["captured", "authorized"]


def test_settlement_is_captured_minus_refunded_by_day_and_currency() -> None:
    payments = pl.DataFrame(
        {
            "payment_id": ["P1", "P2", "P3", "P4"],
            "captured_at": [D1, D1, D2, None],  # P4 authorised only: not settled
            "captured_amount": [Decimal("10.00"), Decimal("5.50"), Decimal("7.00"), None],
            "captured_currency": ["EUR", "EUR", "GBP", None],
        },
        schema_overrides={"captured_amount": MONEY},
    )
    refunds = pl.DataFrame(
        {"refund_id": ["F1", "F2"], "refunded_at": [D2, D2], "amount": [Decimal("2.25"), Decimal("1.00")],
         "currency": ["EUR", "EUR"]},
        schema_overrides={"amount": MONEY},
    )  # fmt: skip
    rows = settlement_summary(payments, refunds).to_dicts()
    assert rows == [
        {"day": date(2026, 10, 1), "currency": "EUR", "captured": Decimal("15.50"), "captures": 2,
         "refunded": Decimal("0.00"), "refunds": 0, "net": Decimal("15.50")},
        {"day": date(2026, 10, 2), "currency": "EUR", "captured": Decimal("0.00"), "captures": 0,
         "refunded": Decimal("3.25"), "refunds": 2, "net": Decimal("-3.25")},
        {"day": date(2026, 10, 2), "currency": "GBP", "captured": Decimal("7.00"), "captures": 1,
         "refunded": Decimal("0.00"), "refunds": 0, "net": Decimal("7.00")},
    ]  # fmt: skip
