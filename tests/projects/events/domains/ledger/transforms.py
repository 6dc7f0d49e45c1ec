"""Pure transforms of the ledger test domain."""

from __future__ import annotations

import polars as pl


def conform_entry(rows: pl.DataFrame) -> pl.DataFrame:
    """An entry as posted."""
    return rows.select("entry_id", "account_id", "amount")


def balances(entries: pl.DataFrame) -> pl.DataFrame:
    """Per account, the sum of its entries."""
    return entries.group_by("account_id").agg(pl.col("amount").sum().alias("balance")).sort("account_id")
