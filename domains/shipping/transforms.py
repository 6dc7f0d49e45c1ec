"""Pure transforms of the shipping domain: parcel events → silver shipments → deliveries and fulfilment.

The gold products are portable (narwhals): the same code runs embedded on Polars and on Spark Connect.
Durations are whole microseconds until the last step, so sums, medians and percentiles agree on both.
"""

from __future__ import annotations

from typing import Any

import narwhals as nw
import polars as pl

from pipelines.core.conform import enum_text
from pipelines.core.engine import portable
from pipelines.core.portable_time import HOURS_PER_MICRO, MICROS_PER_HOUR, micros_between, week_start

DELIVERY_SLA_HOURS = 96
"""The promise to customers: an order arrives within four days of being placed."""
RETURNED_AFTER_ATTEMPTS = 3


def conform_shipment_dispatched(rows: pl.DataFrame) -> pl.DataFrame:
    """What a dispatch says: the order, the carrier, the destination country (no address), when."""
    return rows.select(
        "shipment_id",
        "order_id",
        enum_text("carrier", "CARRIER_").alias("carrier"),
        "country",
        "tracking_number",
        "dispatched_at",
    )


def conform_shipment_delivered(rows: pl.DataFrame) -> pl.DataFrame:
    """When the parcel reached the customer."""
    return rows.select("shipment_id", "delivered_at")


def conform_delivery_failed(rows: pl.DataFrame) -> pl.DataFrame:
    """The latest failed attempt: when, why, and how many attempts failed so far."""
    return rows.select(
        "shipment_id",
        pl.col("failed_at").alias("last_failed_at"),
        enum_text("reason", "FAILURE_REASON_").alias("failure_reason"),
        pl.col("attempt").alias("failed_attempts"),
    )


def finish_shipments(shipments: pl.DataFrame) -> pl.DataFrame:
    """Derive the shipment status: delivered, returned to sender, delivery failed, or in transit."""
    return shipments.with_columns(
        pl.when(pl.col("delivered_at").is_not_null())
        .then(pl.lit("delivered"))
        .when(pl.col("failed_attempts") >= RETURNED_AFTER_ATTEMPTS)
        .then(pl.lit("returned_to_sender"))
        .when(pl.col("failed_attempts").is_not_null())
        .then(pl.lit("delivery_failed"))
        .otherwise(pl.lit("in_transit"))
        .alias("status")
    )


@portable
def deliveries(shipments: nw.DataFrame[Any]) -> nw.DataFrame[Any]:
    """One row per dispatched parcel: carrier, destination, status and hours in transit."""
    return (
        shipments.filter(~nw.col("dispatched_at").is_null())
        .select(
            "shipment_id",
            "order_id",
            "carrier",
            "country",
            "dispatched_at",
            "delivered_at",
            "status",
            nw.col("failed_attempts").fill_null(0).cast(nw.Int32),
            (micros_between(nw.col("delivered_at"), nw.col("dispatched_at")) * HOURS_PER_MICRO).alias("transit_hours"),
        )
        .sort("shipment_id")
    )


@portable
def order_fulfilment(order_facts: nw.DataFrame[Any], deliveries: nw.DataFrame[Any]) -> nw.DataFrame[Any]:
    """Per week of delivery (Mondays) and country: delivered orders, hours from placed to delivered
    (mean, median, 90th percentile interpolated linearly) and the share that broke the delivery SLA."""
    delivered = (
        deliveries.filter(~nw.col("delivered_at").is_null())
        .join(order_facts.select("order_id", "placed_at", nw.col("country").alias("order_country")), on="order_id")
        .select(
            week_start(nw.col("delivered_at")).alias("week"),
            nw.col("order_country").alias("country"),
            micros_between(nw.col("delivered_at"), nw.col("placed_at")).alias("micros"),
        )
    )
    return (
        delivered.group_by("week", "country")
        .agg(
            nw.len().cast(nw.Int64).alias("delivered_orders"),
            nw.col("micros").sum().alias("total_micros"),
            nw.col("micros").cast(nw.Float64).median().alias("median_micros"),
            nw.col("micros").cast(nw.Float64).quantile(0.9, interpolation="linear").alias("p90_micros"),
            (nw.col("micros") > DELIVERY_SLA_HOURS * MICROS_PER_HOUR).cast(nw.Int64).sum().alias("sla_breaches"),
        )
        .select(
            "week",
            "country",
            "delivered_orders",
            (nw.col("total_micros") / nw.col("delivered_orders") * HOURS_PER_MICRO).alias("mean_hours"),
            (nw.col("median_micros") * HOURS_PER_MICRO).alias("median_hours"),
            (nw.col("p90_micros") * HOURS_PER_MICRO).alias("p90_hours"),
            "sla_breaches",
            (nw.col("sla_breaches") / nw.col("delivered_orders")).alias("sla_breach_share"),
        )
        .sort("week", "country")
    )
