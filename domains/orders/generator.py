"""A deterministic generator of realistic orders events (same seed, same events)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
# Country → (currency, weight): a European shop with a few overseas markets.
COUNTRIES = {
    "DE": ("EUR", 30), "FR": ("EUR", 18), "NL": ("EUR", 9), "ES": ("EUR", 8), "IT": ("EUR", 8),
    "GB": ("GBP", 12), "SE": ("SEK", 5), "PL": ("PLN", 5), "US": ("USD", 5),
}  # fmt: skip
CHANNELS = ["web", "app", "marketplace"]
DEVICES = ["desktop", "mobile", "tablet"]
COUPONS = ["WELCOME10", "SPRING5", "VIP20", "FREESHIP"]
DUPLICATE_SHARE = 0.005  # producers retry: the same event (same id) arrives twice


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate(classes: Mapping[str, type[Any]], count: int, seed: int = 7) -> Iterator[tuple[str, Any]]:
    """Yield `count` events as `(event name, message)`: OrderPlaced, with producer retries.

    Args:
        classes: message classes by full name (compiled at run time from schemas/orders).
        count: how many events to yield (duplicates included).
        seed: the random seed; the same seed yields the same events.
    """
    order_placed = classes["meshlake.orders.v1.OrderPlaced"]
    rng = random.Random(seed)
    countries = list(COUNTRIES)
    weights = [COUNTRIES[c][1] for c in countries]
    customers = [f"C{n:07d}" for n in range(max(1, count // 4))]
    skus = [f"SKU-{n:05d}" for n in range(2_000)]
    prices = {sku: rng.choice([499, 999, 1499, 1999, 2999, 4999, 9999, 19999]) for sku in skus}
    emitted = 0
    previous: Any = None
    while emitted < count:
        if previous is not None and rng.random() < DUPLICATE_SHARE:
            yield "order_placed", previous
            emitted += 1
            continue
        country = rng.choices(countries, weights)[0]
        msg = order_placed(
            event_id=_uuid(rng),
            order_id=f"O{emitted:09d}",
            customer_id=rng.choice(customers),
            status=1,
            currency=COUNTRIES[country][0],
            country=country,
        )
        placed = START + timedelta(seconds=rng.randrange(DAYS * 86_400), microseconds=rng.randrange(1_000_000))
        msg.placed_at.FromDatetime(placed)
        total = 0
        for _ in range(rng.choices([1, 2, 3, 4, 5], [40, 30, 15, 10, 5])[0]):
            sku = rng.choice(skus)
            quantity = rng.choices([1, 2, 3], [80, 15, 5])[0]
            msg.items.add(sku=sku, quantity=quantity, unit_price_cents=prices[sku])
            total += quantity * prices[sku]
        msg.attributes["channel"] = rng.choice(CHANNELS)
        msg.attributes["device"] = rng.choice(DEVICES)
        if rng.random() < 0.1:
            msg.coupon_code = rng.choice(COUPONS)
            total = total * 9 // 10
        msg.total_cents = total
        previous = msg
        yield "order_placed", msg
        emitted += 1
