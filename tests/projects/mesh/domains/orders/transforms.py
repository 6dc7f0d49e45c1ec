"""Pure transforms of the orders domain: events → silver orders and returns → gold products.

Conform functions map each bronze event row to one row of the columns its event type owns (the
silver engine adds versions, deduplicates and upserts); `finish_orders` derives the status.
"""

from __future__ import annotations

import polars as pl

from pipelines.core.conform import MONEY, cents_to_money, enum_text, map_value


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


def _known_orders(orders: pl.DataFrame) -> pl.DataFrame:
    """Orders whose OrderPlaced arrived (a late placement leaves only the cancellation so far)."""
    return orders.filter(pl.col("placed_at").is_not_null())


def _returned_per_order(returns: pl.DataFrame) -> pl.DataFrame:
    return returns.group_by("order_id").agg(
        pl.col("refund").sum().cast(MONEY).alias("returned"),
        pl.col("quantity").sum().cast(pl.Int64).alias("returned_units"),
    )


def _orders_with_returns(orders: pl.DataFrame, returns: pl.DataFrame) -> pl.DataFrame:
    return (
        _known_orders(orders)
        .join(_returned_per_order(returns), on="order_id", how="left")
        .with_columns(
            pl.col("placed_at").dt.date().alias("day"),
            pl.col("returned").fill_null(pl.lit(0).cast(MONEY)).cast(MONEY),
            pl.col("returned_units").fill_null(0),
        )
    )


def order_facts(orders: pl.DataFrame, returns: pl.DataFrame) -> pl.DataFrame:
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


def daily_revenue(orders: pl.DataFrame, returns: pl.DataFrame) -> pl.DataFrame:
    """Per UTC day of placement, country and currency: revenue and customers of the orders that
    stand, cancellations, what was returned of those orders, and net revenue."""
    active = pl.col("status") != "cancelled"
    return (
        _orders_with_returns(orders, returns)
        .group_by("day", "country", "currency")
        .agg(
            pl.col("total").filter(active).sum().cast(MONEY).alias("revenue"),
            active.sum().cast(pl.Int64).alias("orders"),
            pl.col("customer_id").filter(active).n_unique().cast(pl.Int64).alias("customers"),
            (~active).sum().cast(pl.Int64).alias("cancelled_orders"),
            pl.col("returned").filter(active).sum().cast(MONEY).alias("returned"),
        )
        .with_columns((pl.col("revenue") - pl.col("returned")).cast(MONEY).alias("net_revenue"))
        .sort("day", "country", "currency")
    )
