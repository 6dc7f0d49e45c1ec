"""Pure transforms of the shipping domain: parcel events → silver shipments → deliveries and fulfilment."""

from __future__ import annotations

import polars as pl

from pipelines.core.conform import enum_text

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


def deliveries(shipments: pl.DataFrame) -> pl.DataFrame:
    """One row per dispatched parcel: carrier, destination, status and hours in transit."""
    return (
        shipments.filter(pl.col("dispatched_at").is_not_null())
        .select(
            "shipment_id",
            "order_id",
            "carrier",
            "country",
            "dispatched_at",
            "delivered_at",
            "status",
            pl.col("failed_attempts").fill_null(0).cast(pl.Int32),
            ((pl.col("delivered_at") - pl.col("dispatched_at")).dt.total_seconds(fractional=True) / 3600).alias(
                "transit_hours"
            ),
        )
        .sort("shipment_id")
    )


def order_fulfilment(order_facts: pl.DataFrame, deliveries: pl.DataFrame) -> pl.DataFrame:
    """Per week of delivery (Mondays) and country: delivered orders, hours from placed to delivered
    (mean, median, 90th percentile) and the share that broke the delivery SLA."""
    hours = (pl.col("delivered_at") - pl.col("placed_at")).dt.total_seconds(fractional=True) / 3600
    delivered = (
        deliveries.filter(pl.col("delivered_at").is_not_null())
        .join(order_facts.select("order_id", "placed_at", pl.col("country").alias("order_country")), on="order_id")
        .with_columns(hours.alias("hours"), pl.col("delivered_at").dt.truncate("1w").dt.date().alias("week"))
    )
    return (
        delivered.group_by("week", pl.col("order_country").alias("country"))
        .agg(
            pl.len().cast(pl.Int64).alias("delivered_orders"),
            pl.col("hours").mean().alias("mean_hours"),
            pl.col("hours").median().alias("median_hours"),
            pl.col("hours").quantile(0.9, interpolation="nearest").alias("p90_hours"),
            (pl.col("hours") > DELIVERY_SLA_HOURS).sum().cast(pl.Int64).alias("sla_breaches"),
        )
        .with_columns((pl.col("sla_breaches") / pl.col("delivered_orders")).alias("sla_breach_share"))
        .sort("week", "country")
    )
