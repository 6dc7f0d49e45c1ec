"""Deterministic sales: `count` SaleMade events over three stores and three days."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any


def generate(classes: Mapping[str, type[Any]], count: int, seed: int = 7) -> Iterator[tuple[str, Any]]:
    """Yield `count` sales as `("sale_made", message)`."""
    sale = classes["lineage.shop.v1.SaleMade"]
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for i in range(count):
        message = sale(event_id=f"e-{seed}-{i}", sale_id=f"s-{seed}-{i}", amount_cents=100 + i, store=f"st{i % 3}")
        message.sold_at.FromDatetime(start + timedelta(hours=i % 72))
        yield "sale_made", message
