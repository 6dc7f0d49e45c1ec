"""The shop's transforms; the gold one declares where each output column comes from (column lineage)."""

from __future__ import annotations

import polars as pl

from pipelines.core.lineage import derives


@derives(sale_id="rows.sale_id", sold_at="rows.sold_at", amount_cents="rows.amount_cents", store="rows.store")
def conform_sale_made(rows: pl.DataFrame) -> pl.DataFrame:
    """A sale: which, when, how much, where."""
    return rows.select("sale_id", "sold_at", "amount_cents", "store")


@derives(day="sales.sold_at", store="sales.store", revenue="sales.amount_cents", sales="sales.sale_id")
def daily_sales(sales: pl.DataFrame) -> pl.DataFrame:
    """Revenue (in currency units) and number of sales per day and store."""
    return (
        sales.group_by(pl.col("sold_at").dt.date().alias("day"), "store")
        .agg((pl.col("amount_cents").sum() / 100).alias("revenue"), pl.len().alias("sales"))
        .sort("day", "store")
    )
