"""Pure transforms of the accounts test domain."""

from __future__ import annotations

import polars as pl


def conform_opened(rows: pl.DataFrame) -> pl.DataFrame:
    """An account's details, its owner's name tidied."""
    return rows.select(
        "account_id",
        pl.col("owner").str.strip_chars().str.to_titlecase().alias("owner"),
        "tier",
        "business",
        pl.col("at").alias("opened_at"),
    )


def conform_balance(rows: pl.DataFrame) -> pl.DataFrame:
    """A balance in cents and whole units.

    Raises:
        ValueError: a negative rate (the tests' broken feed, which fails a build here and on an engine alike).
    """
    if (rows["rate"] < 0).any():
        raise ValueError("a negative rate: the rates feed is broken")
    return rows.select("account_id", "balance", (pl.col("balance") / 100).alias("units"), "rate")


def _ledger(none: pl.Expr) -> pl.Expr:
    """The ledger of an account: the last digit of its id, null where `none` holds (a key that is not `entity_key`)."""
    return pl.when(none).then(None).otherwise(pl.lit("l-") + pl.col("account_id").str.slice(-1)).alias("ledger")


def ledger_opened(rows: pl.DataFrame) -> pl.DataFrame:
    """A ledger's owner; accounts of tier 0 have no ledger."""
    return rows.select(_ledger(pl.col("tier") == 0), pl.col("owner").alias("ledger_owner"))


def ledger_balance(rows: pl.DataFrame) -> pl.DataFrame:
    """A ledger's balance; negative balances have no ledger."""
    return rows.select(_ledger(pl.col("balance") < 0), pl.col("balance").alias("ledger_balance"))


def standing(accounts: pl.DataFrame) -> pl.DataFrame:
    """Whether an account is overdrawn, and its tier's name."""
    return accounts.with_columns(
        (pl.col("balance") < 0).alias("overdrawn"),
        pl.when(pl.col("tier") >= 2).then(pl.lit("gold")).otherwise(pl.lit("basic")).alias("tier_name"),
    )
