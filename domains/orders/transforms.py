"""Pure transforms of the orders domain: bronze events → silver orders → gold daily revenue."""

from __future__ import annotations

import polars as pl

MONEY = pl.Decimal(18, 2)


def cents_to_money(column: str) -> pl.Expr:
    """Minor currency units (int) → decimal(18,2) major units."""
    return (pl.col(column).cast(MONEY) / 100).cast(MONEY)


def silver_orders(order_placed: pl.DataFrame) -> pl.DataFrame:
    """One row per order: duplicates dropped by event id, the latest event per order kept."""
    return (
        order_placed.sort(["placed_at", pl.col("_ingest").struct.field("offset")])
        .unique(subset="event_id", keep="first", maintain_order=True)
        .unique(subset="order_id", keep="last", maintain_order=True)
        .select(
            "order_id",
            "customer_id",
            "placed_at",
            pl.col("status").str.strip_prefix("ORDER_STATUS_").str.to_lowercase(),
            cents_to_money("total_cents").alias("total"),
            "currency",
            "country",
            pl.col("items").list.len().cast(pl.Int32).alias("line_items"),
            pl.col("items").list.eval(pl.element().struct.field("quantity")).list.sum().cast(pl.Int64).alias("units"),
            "coupon_code",
            pl.col("event_id").alias("last_event_id"),
        )
        .sort("order_id")
    )


def daily_revenue(orders: pl.DataFrame) -> pl.DataFrame:
    """Revenue, order count and distinct customers per UTC day, country and currency."""
    return (
        orders.filter(pl.col("status") != "cancelled")
        .group_by(pl.col("placed_at").dt.date().alias("day"), "country", "currency")
        .agg(
            pl.col("total").sum().cast(MONEY).alias("revenue"),
            pl.len().cast(pl.Int64).alias("orders"),
            pl.col("customer_id").n_unique().cast(pl.Int64).alias("customers"),
        )
        .sort("day", "country", "currency")
    )
