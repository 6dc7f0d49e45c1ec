"""The shipping transforms: shipment status, deliveries, and fulfilment time against the SLA."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from domains.shipping.transforms import DELIVERY_SLA_HOURS, deliveries, finish_shipments, order_fulfilment

MONDAY = datetime(2026, 10, 5, 8, tzinfo=UTC)


def test_status_follows_the_parcels_fate() -> None:
    state = pl.DataFrame(
        {
            "shipment_id": ["S1", "S2", "S3", "S4"],
            "delivered_at": [MONDAY, None, None, None],
            "failed_attempts": [1, 3, 1, None],
        }
    )
    assert finish_shipments(state)["status"].to_list() == [
        "delivered",
        "returned_to_sender",
        "delivery_failed",
        "in_transit",
    ]


def _facts() -> pl.DataFrame:
    placed = MONDAY - timedelta(days=2)
    return pl.DataFrame(
        {"order_id": ["O1", "O2", "O3", "O4"], "placed_at": [placed] * 4, "country": ["DE", "DE", "FR", "FR"]}
    )


def _deliveries() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "shipment_id": ["S1", "S2", "S3", "S4", "S5"],
            "order_id": ["O1", "O2", "O3", "O4", "O9"],  # O9: an order the orders product does not know (yet)
            "dispatched_at": [MONDAY - timedelta(days=1)] * 5,
            "delivered_at": [
                MONDAY,  # 48 h after placement
                MONDAY + timedelta(days=3),  # 120 h: breaks the SLA
                MONDAY + timedelta(days=7),  # next week
                None,  # still in transit
                MONDAY,
            ],
        }
    )


def test_fulfilment_groups_by_week_of_delivery_and_country_and_counts_sla_breaches() -> None:
    gold = order_fulfilment(_facts(), _deliveries())
    rows = {(r["week"], r["country"]): r for r in gold.to_dicts()}
    assert set(rows) == {(date(2026, 10, 5), "DE"), (date(2026, 10, 12), "FR")}
    de = rows[(date(2026, 10, 5), "DE")]
    assert (de["delivered_orders"], de["sla_breaches"], de["sla_breach_share"]) == (2, 1, 0.5)
    assert de["mean_hours"] == pytest.approx((48 + 120) / 2)
    assert DELIVERY_SLA_HOURS == 96


def test_deliveries_show_transit_hours_and_no_failed_attempts_as_zero() -> None:
    shipments = _deliveries().with_columns(
        pl.lit("dhl").alias("carrier"),
        pl.lit("DE").alias("country"),
        pl.lit("delivered").alias("status"),
        pl.lit(None, pl.Int32).alias("failed_attempts"),
    )
    rows = deliveries(shipments)
    assert rows["transit_hours"].to_list()[:2] == [24.0, 96.0]
    assert rows["failed_attempts"].to_list() == [0] * 5
