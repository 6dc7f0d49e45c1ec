"""Transform helpers every domain's conform functions share: money, enum names, map attributes."""

from __future__ import annotations

import narwhals as nw
import polars as pl

MONEY = pl.Decimal(18, 2)
PORTABLE_MONEY = nw.Decimal(18, 2)
"""`MONEY` in a portable transform (see `pipelines.core.engine`)."""
"""Money in silver and gold: decimal(18,2) major units, always next to an ISO 4217 currency column."""


def cents_to_money(column: str) -> pl.Expr:
    """Minor currency units (int) → decimal(18,2) major units."""
    return (pl.col(column).cast(MONEY) / 100).cast(MONEY)


def enum_text(column: str, prefix: str) -> pl.Expr:
    """A protobuf enum name as lower-case text without its prefix (`ORDER_STATUS_PAID` → `paid`)."""
    return pl.col(column).str.strip_prefix(prefix).str.to_lowercase()


def map_value(column: str, key: str) -> pl.Expr:
    """The value of `key` in a protobuf map column (null when absent), named after the key."""
    return pl.col(column).map.get(key).alias(key)
