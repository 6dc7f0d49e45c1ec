"""Pure transforms of the payments domain: payment events → silver payments and refunds → settlement."""

from __future__ import annotations

import polars as pl

from pipelines.core.conform import MONEY, cents_to_money, enum_text


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


def settlement_summary(payments: pl.DataFrame, refunds: pl.DataFrame) -> pl.DataFrame:
    """Per UTC day and currency: money captured, money refunded, and the net settled amount."""
    captured = (
        payments.filter(pl.col("captured_at").is_not_null())
        .group_by(pl.col("captured_at").dt.date().alias("day"), pl.col("captured_currency").alias("currency"))
        .agg(pl.col("captured_amount").sum().cast(MONEY).alias("captured"), pl.len().cast(pl.Int64).alias("captures"))
    )
    refunded = refunds.group_by(pl.col("refunded_at").dt.date().alias("day"), "currency").agg(
        pl.col("amount").sum().cast(MONEY).alias("refunded"), pl.len().cast(pl.Int64).alias("refunds")
    )
    zero = pl.lit(0).cast(MONEY)
    return (
        captured.join(refunded, on=["day", "currency"], how="full", coalesce=True)
        .with_columns(
            pl.col("captured").fill_null(zero),
            pl.col("refunded").fill_null(zero),
            pl.col("captures").fill_null(0),
            pl.col("refunds").fill_null(0),
        )
        .with_columns((pl.col("captured") - pl.col("refunded")).cast(MONEY).alias("net"))
        .select("day", "currency", "captured", "captures", "refunded", "refunds", "net")
        .sort("day", "currency")
    )
