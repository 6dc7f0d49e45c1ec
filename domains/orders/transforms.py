"""Pure transforms of the orders domain: events → silver orders and returns → gold products.

Conform functions map each bronze event row to one row of the columns its event type owns (the
silver engine adds versions, deduplicates and upserts); `finish_orders` derives the status. The gold
products are portable (narwhals): the same code runs embedded on Polars and on Spark Connect.
"""

from __future__ import annotations

from typing import Any

import narwhals as nw
import polars as pl

from pipelines.core.conform import PORTABLE_MONEY, cents_to_money, enum_text, map_value
from pipelines.core.engine import portable


def conform_order_placed(rows: pl.DataFrame) -> pl.DataFrame:
    """What an OrderPlaced says about its order: customer, time, amounts, basket, channel."""
    return rows.select(
        "order_id",
        "customer_id",
        "placed_at",
        cents_to_money("total_cents").alias("total"),
        "currency",
        "country",
        pl.col("items").list.len().cast(pl.Int32).alias("line_items"),
        pl.col("items").list.eval(pl.element().struct.field("quantity")).list.sum().cast(pl.Int64).alias("units"),
        "coupon_code",
        map_value("attributes", "channel"),
    )


def conform_order_cancelled(rows: pl.DataFrame) -> pl.DataFrame:
    """What an OrderCancelled says: when and why."""
    return rows.select("order_id", "cancelled_at", enum_text("reason", "CANCEL_REASON_").alias("cancel_reason"))


def finish_orders(orders: pl.DataFrame) -> pl.DataFrame:
    """Derive the order status: `cancelled` once a cancellation is known, else `placed`."""
    return orders.with_columns(
        pl.when(pl.col("cancelled_at").is_not_null())
        .then(pl.lit("cancelled"))
        .otherwise(pl.lit("placed"))
        .alias("status")
    )


def conform_order_item_returned(rows: pl.DataFrame) -> pl.DataFrame:
    """A returned line item: which order and product, how many units, how much is refunded."""
    return rows.select(
        "return_id",
        "order_id",
        "sku",
        "quantity",
        cents_to_money("refund_cents").alias("refund"),
        "currency",
        "returned_at",
        enum_text("reason", "RETURN_REASON_").alias("return_reason"),
    )


def _orders_with_returns(orders: nw.DataFrame[Any], returns: nw.DataFrame[Any]) -> nw.DataFrame[Any]:
    """Orders whose OrderPlaced arrived (a late placement leaves only the cancellation so far), with the day
    they were placed and what was returned of them."""
    returned = returns.group_by("order_id").agg(
        nw.col("refund").sum().cast(PORTABLE_MONEY).alias("returned"),
        nw.col("quantity").sum().cast(nw.Int64).alias("returned_units"),
    )
    return (
        orders.filter(~nw.col("placed_at").is_null())
        .join(returned, on="order_id", how="left")
        .with_columns(
            nw.col("placed_at").dt.date().alias("day"),
            nw.col("returned").fill_null(nw.lit(0).cast(PORTABLE_MONEY)).cast(PORTABLE_MONEY),
            nw.col("returned_units").fill_null(0).cast(nw.Int64),
        )
    )


@portable
def order_facts(orders: nw.DataFrame[Any], returns: nw.DataFrame[Any]) -> nw.DataFrame[Any]:
    """One row per placed order, without personal data: when, where, how much, status and returns."""
    return (
        _orders_with_returns(orders, returns)
        .select(
            "order_id",
            "placed_at",
            "day",
            "country",
            "currency",
            "total",
            "status",
            "cancelled_at",
            "line_items",
            "units",
            "returned",
            "returned_units",
        )
        .sort("order_id")
    )


@portable
def daily_revenue(orders: nw.DataFrame[Any], returns: nw.DataFrame[Any]) -> nw.DataFrame[Any]:
    """Per UTC day of placement, country and currency: revenue and customers of the orders that
    stand, cancellations, what was returned of those orders, and net revenue."""
    groups = ["day", "country", "currency"]
    placed = _orders_with_returns(orders, returns)
    standing = (
        placed.filter(nw.col("status") != "cancelled")
        .group_by(groups)
        .agg(
            nw.col("total").sum().cast(PORTABLE_MONEY).alias("revenue"),
            nw.len().cast(nw.Int64).alias("orders"),
            nw.col("customer_id").n_unique().cast(nw.Int64).alias("customers"),
            nw.col("returned").sum().cast(PORTABLE_MONEY).alias("returned"),
        )
    )
    zero = nw.lit(0).cast(PORTABLE_MONEY)
    return (
        placed.group_by(groups)
        .agg((nw.col("status") == "cancelled").cast(nw.Int64).sum().alias("cancelled_orders"))
        .join(standing, on=groups, how="left")
        .select(
            *groups,
            nw.col("revenue").fill_null(zero).cast(PORTABLE_MONEY),
            nw.col("orders").fill_null(0).cast(nw.Int64),
            nw.col("customers").fill_null(0).cast(nw.Int64),
            nw.col("cancelled_orders").cast(nw.Int64),
            nw.col("returned").fill_null(zero).cast(PORTABLE_MONEY),
        )
        .with_columns((nw.col("revenue") - nw.col("returned")).cast(PORTABLE_MONEY).alias("net_revenue"))
        .sort(groups)
    )
