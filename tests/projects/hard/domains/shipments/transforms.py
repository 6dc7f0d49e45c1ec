"""Pure transforms of the hard test project: bronze shipment events -> silver shipments -> shipment facts."""

from __future__ import annotations

import polars as pl


def conform_shipment_event(rows: pl.DataFrame) -> pl.DataFrame:
    """What an event says about its shipment; nested and recursive columns pass through."""
    return rows.select(
        "shipment_key",
        "status",
        "big",
        "took",
        "checksum",
        "tree",
        "attributes",
        pl.col("stops").list.len().cast(pl.Int64).alias("stops"),
    )


def shipment_facts(shipments: pl.DataFrame) -> pl.DataFrame:
    """Per shipment: status, the unsigned counter, seconds taken, stops and the root label of its tree."""
    return shipments.select(
        "shipment_key",
        "status",
        "big",
        (pl.col("took") / 1_000_000).alias("took_seconds"),
        "stops",
        pl.col("tree").struct.field("label").alias("tree_label"),
    )
