"""Pure transforms of the payments domain: payment events → silver payments and refunds → settlement."""

from __future__ import annotations

from typing import Any

import narwhals as nw
import polars as pl

from pipelines.core.conform import PORTABLE_MONEY, cents_to_money, enum_text
from pipelines.core.engine import portable


def conform_payment_authorized(rows: pl.DataFrame) -> pl.DataFrame:
    """What an authorisation says: the order, the payer, the amount reserved and how it is paid."""
    return rows.select(
        "payment_id",
        "order_id",
        "customer_id",
        cents_to_money("amount_cents").alias("authorized_amount"),
        "currency",
        enum_text("method", "PAYMENT_METHOD_").alias("method"),
        "authorized_at",
    )


def conform_payment_captured(rows: pl.DataFrame) -> pl.DataFrame:
    """What a capture says: how much money was taken, in which currency, when."""
    return rows.select(
        "payment_id",
        cents_to_money("amount_cents").alias("captured_amount"),
        pl.col("currency").alias("captured_currency"),
        "captured_at",
    )


def finish_payments(payments: pl.DataFrame) -> pl.DataFrame:
    """Derive the payment status: `captured` once a capture is known, else `authorized`."""
    return payments.with_columns(
        pl.when(pl.col("captured_at").is_not_null())
        .then(pl.lit("captured"))
        .otherwise(pl.lit("authorized"))
        .alias("status")
    )


def conform_refund_issued(rows: pl.DataFrame) -> pl.DataFrame:
    """A refund: of which payment and order, how much, when and why."""
    return rows.select(
        "refund_id",
        "payment_id",
        "order_id",
        cents_to_money("amount_cents").alias("amount"),
        "currency",
        "refunded_at",
        "reason",
    )


@portable
def settlement_summary(payments: nw.DataFrame[Any], refunds: nw.DataFrame[Any]) -> nw.DataFrame[Any]:
    """Per UTC day and currency: money captured, money refunded, and the net settled amount."""
    zero = nw.lit(0).cast(PORTABLE_MONEY)
    captured = payments.filter(~nw.col("captured_at").is_null()).select(
        nw.col("captured_at").dt.date().alias("day"),
        nw.col("captured_currency").alias("currency"),
        nw.col("captured_amount").cast(PORTABLE_MONEY).alias("captured"),
        nw.lit(1).cast(nw.Int64).alias("captures"),
        zero.alias("refunded"),
        nw.lit(0).cast(nw.Int64).alias("refunds"),
    )
    refunded = refunds.select(
        nw.col("refunded_at").dt.date().alias("day"),
        "currency",
        zero.alias("captured"),
        nw.lit(0).cast(nw.Int64).alias("captures"),
        nw.col("amount").cast(PORTABLE_MONEY).alias("refunded"),
        nw.lit(1).cast(nw.Int64).alias("refunds"),
    )
    return (
        nw.concat([captured, refunded])
        .group_by("day", "currency")
        .agg(
            nw.col("captured").sum().cast(PORTABLE_MONEY),
            nw.col("captures").sum().cast(nw.Int64),
            nw.col("refunded").sum().cast(PORTABLE_MONEY),
            nw.col("refunds").sum().cast(nw.Int64),
        )
        .with_columns((nw.col("captured") - nw.col("refunded")).cast(PORTABLE_MONEY).alias("net"))
        .select("day", "currency", "captured", "captures", "refunded", "refunds", "net")
        .sort("day", "currency")
    )
