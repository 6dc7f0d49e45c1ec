"""The simulated web shop every sample domain's generator draws from: one seeded world, three views.

Order `i` of seed `s` is a pure function of `(s, i)`: when it was placed, what it holds, whether it is
cancelled, how it is paid, shipped, delivered and returned. Each domain's generator walks the same
orders and emits only its own events, so payments and shipping reference real orders although every
domain is generated on its own (`meshlake generate --domain payments`).

Arrival is not event time: most events arrive seconds after they happen, some hours or days late (so
late and out-of-order events reach bronze), producers retry (duplicates with the same event id) and a
few events break their contract (they land in quarantine).
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
# Country → (currency, weight, transit days min..max): a European shop with a few overseas markets.
COUNTRIES: dict[str, tuple[str, int, tuple[int, int]]] = {
    "DE": ("EUR", 30, (1, 2)), "FR": ("EUR", 18, (1, 3)), "NL": ("EUR", 9, (1, 2)), "ES": ("EUR", 8, (2, 4)),
    "IT": ("EUR", 8, (2, 4)), "GB": ("GBP", 12, (2, 4)), "SE": ("SEK", 5, (2, 4)), "PL": ("PLN", 5, (2, 3)),
    "US": ("USD", 5, (3, 6)),
}  # fmt: skip
CARRIERS = {"DE": 1, "FR": 3, "NL": 4, "ES": 3, "IT": 3, "GB": 5, "SE": 2, "PL": 3, "US": 2}
CHANNELS = ["web", "app", "marketplace"]
DEVICES = ["desktop", "mobile", "tablet"]
COUPONS = ["WELCOME10", "SPRING5", "VIP20", "FREESHIP"]
PRICES = [499, 999, 1499, 1999, 2999, 4999, 9999, 19999]
SKUS = 2_000
CUSTOMERS = 25_000

CANCEL_SHARE = 0.05  # cancelled before dispatch (a fifth of them because the payment failed)
FAIL_SHARE = 0.07  # the first delivery attempt fails
RETURN_SHARE = 0.08  # a delivered order sends one line item back
LATE_SHARE = 0.02  # an event arrives hours to days after it happened
DUPLICATE_SHARE = 0.005  # producers retry: the same event (same id) arrives twice
BAD_SHARE = 0.003  # an event breaks its contract (no id, no key, no time, time in the future)


@dataclass
class Order:
    """One order's whole life; `None` where it never got that far."""

    index: int
    order_id: str
    customer_id: str
    country: str
    currency: str
    placed_at: datetime
    items: list[tuple[str, int, int]]  # sku, quantity, unit price in cents
    total_cents: int
    coupon: str | None
    channel: str
    device: str
    id_base: int
    cancelled_at: datetime | None = None
    cancel_reason: int = 0
    payment_id: str = ""
    method: int = 1
    card_last4: str | None = None
    authorized_at: datetime | None = None
    captured_at: datetime | None = None
    shipment_id: str = ""
    carrier: int = 0
    postal_code: str = ""
    recipient: str = ""
    dispatched_at: datetime | None = None
    failures: list[tuple[datetime, int]] = field(default_factory=list)
    delivered_at: datetime | None = None
    returns: list[tuple[str, str, int, int, datetime, int, str, datetime]] = field(default_factory=list)
    """return id, sku, quantity, refund cents, returned at, reason, refund id, refunded at"""

    def event_id(self, slot: int) -> str:
        """The UUID of this order's event number `slot` (each domain uses its own slots)."""
        h = f"{(self.id_base ^ (slot * 0x9E3779B97F4A7C15_F39CC0605CEDC834)) & _UUID_BITS | _UUID_V4:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_UUID_BITS = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID_V4 = (0x4000 << 64) | (0x8000 << 48)
_COUNTRY_NAMES = list(COUNTRIES)
_COUNTRY_WEIGHTS = list(itertools.accumulate(COUNTRIES[c][1] for c in _COUNTRY_NAMES))
_LINES = list(itertools.accumulate([40, 30, 15, 10, 5]))
_QUANTITIES = list(itertools.accumulate([80, 15, 5]))
_METHODS = list(itertools.accumulate([60, 25, 10, 5]))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _prices(seed: int) -> list[int]:
    rng = random.Random(f"prices-{seed}")
    return [rng.choice(PRICES) for _ in range(SKUS)]


def _entity_id(prefix: str, created: datetime, seed: int, index: int) -> str:
    """A time-ordered id, as producers mint them (a Snowflake/ULID-like prefix): recent entities sort last."""
    return f"{prefix}{int(created.timestamp()):010d}{seed:04d}{index:08d}"


def _seconds(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=rng.uniform(low, high))


def make_order(seed: int, index: int, prices: list[int]) -> Order:
    """Order `index` of the world of `seed`; every domain's generator sees the same order."""
    rng = random.Random(seed * 1_000_003 + index)
    country = rng.choices(_COUNTRY_NAMES, cum_weights=_COUNTRY_WEIGHTS)[0]
    placed = START + timedelta(seconds=rng.randrange(DAYS * 86_400), microseconds=rng.randrange(1_000_000))
    items, total = [], 0
    for _ in range(rng.choices((1, 2, 3, 4, 5), cum_weights=_LINES)[0]):
        sku = rng.randrange(SKUS)
        quantity = rng.choices((1, 2, 3), cum_weights=_QUANTITIES)[0]
        items.append((f"SKU-{sku:05d}", quantity, prices[sku]))
        total += quantity * prices[sku]
    coupon = rng.choice(COUPONS) if rng.random() < 0.1 else None
    if coupon:
        total = total * 9 // 10
    order = Order(
        index=index,
        order_id=_entity_id("O", placed, seed, index),
        customer_id=f"C{rng.randrange(CUSTOMERS):07d}",
        country=country,
        currency=COUNTRIES[country][0],
        placed_at=placed,
        items=items,
        total_cents=total,
        coupon=coupon,
        channel=rng.choice(CHANNELS),
        device=rng.choice(DEVICES),
        id_base=rng.getrandbits(128),
    )
    order.method = rng.choices((1, 2, 3, 4), cum_weights=_METHODS)[0]
    order.card_last4 = f"{rng.randrange(10_000):04d}" if order.method == 1 else None
    order.authorized_at = placed + _seconds(rng, 2, 90)
    order.payment_id = _entity_id("P", order.authorized_at, seed, index)
    if rng.random() < CANCEL_SHARE:
        payment_failed = rng.random() < 0.2
        order.cancel_reason = 2 if payment_failed else rng.choice([1, 1, 3, 4])
        order.cancelled_at = placed + (_seconds(rng, 60, 600) if payment_failed else _seconds(rng, 600, 6 * 3600))
        if payment_failed:
            order.authorized_at = None
        return order
    order.carrier = CARRIERS[country]
    order.postal_code = f"{rng.randrange(10_000, 99_999)}"
    order.recipient = f"Customer {order.customer_id[1:]}"
    order.dispatched_at = placed + _seconds(rng, 4 * 3600, 36 * 3600)
    order.shipment_id = _entity_id("S", order.dispatched_at, seed, index)
    order.captured_at = order.dispatched_at + _seconds(rng, 30, 900)
    low, high = COUNTRIES[country][2]
    attempt_at = order.dispatched_at + _seconds(rng, low * 86_400, high * 86_400)
    failing = rng.random() < FAIL_SHARE
    while failing and len(order.failures) < 3:
        order.failures.append((attempt_at, rng.choice([1, 1, 2, 3, 4])))
        attempt_at += _seconds(rng, 20 * 3600, 28 * 3600)
        failing = rng.random() < 0.25
    if failing:
        return order  # three failed attempts: the parcel goes back to the warehouse
    order.delivered_at = attempt_at
    if rng.random() < RETURN_SHARE:
        returned_sku, quantity, price = rng.choice(items)
        back = rng.randint(1, quantity)
        returned = attempt_at + _seconds(rng, 2 * 86_400, 9 * 86_400)
        refunded = returned + _seconds(rng, 3600, 2 * 86_400)
        order.returns.append(
            (_entity_id("R", returned, seed, index), returned_sku, back, back * price, returned,
             rng.choice([1, 2, 3, 4]), _entity_id("F", refunded, seed, index), refunded)
        )  # fmt: skip
    return order


def set_time(message: Any, name: str, value: datetime) -> None:
    """Set the Timestamp field `name` of `message`."""
    getattr(message, name).FromDatetime(value)


@dataclass(frozen=True)
class Emitted:
    """An event as a producer sends it: when it arrives, its name and message, and what defect it has."""

    arrival: datetime
    event: str
    message: Any


Event = tuple[str, Any, datetime]
"""One event of an order: its name, its message and when it happened."""

Events = Callable[[Order], list[Event]]
"""A domain's view of an order: each of its events."""


def timed(name: str, message: Any, time_field: str, at: datetime) -> Event:
    """The event `name` of `message`, its Timestamp field `time_field` set to `at`."""
    set_time(message, time_field, at)
    return name, message, at


Defects = dict[str, Callable[[Any], None]]
"""How to break an event's contract, by defect name (the message is a copy and may be changed)."""


def emit(
    seed: int, count: int, domain: str, events: Events, defects: Mapping[str, Defects]
) -> Iterator[tuple[str, Any]]:
    """Yield exactly `count` events of one domain in arrival order, with late, duplicate and bad ones.

    Args:
        seed: the world's seed.
        count: how many events to yield (duplicates and bad events included).
        domain: the domain's name (seeds its own arrival and defect randomness).
        events: the domain's view of an order.
        defects: ways to break each event type's contract, by event name.
    """
    rng = random.Random(f"{seed}-{domain}-arrivals")
    prices = _prices(seed)
    emitted: list[Emitted] = []
    index = 0
    while len(emitted) < count:
        for name, message, happened in events(make_order(seed, index, prices)):
            delay = _seconds(rng, 3600, 3 * 86_400) if rng.random() < LATE_SHARE else _seconds(rng, 0.05, 30)
            arrival = happened + delay
            emitted.append(Emitted(arrival, name, message))
            roll = rng.random()
            if roll < DUPLICATE_SHARE:
                emitted.append(Emitted(arrival + _seconds(rng, 1, 2 * 86_400), name, message))
            elif roll < DUPLICATE_SHARE + BAD_SHARE:
                bad = type(message)()
                bad.CopyFrom(message)
                breaks = defects[name]
                breaks[rng.choice(sorted(breaks))](bad)
                bad_id = _uuid(rng)
                if bad.event_id:
                    bad.event_id = bad_id
                emitted.append(Emitted(arrival + _seconds(rng, 0, 60), name, bad))
        index += 1
    emitted = emitted[:count]
    emitted.sort(key=lambda e: e.arrival)
    for item in emitted:
        yield item.event, item.message


def standard_defects(key: str, time_field: str) -> Defects:
    """The contract breaks every event can suffer: no event id, no entity key, no or a future event time."""

    def no_id(message: Any) -> None:
        message.event_id = ""

    def no_key(message: Any) -> None:
        setattr(message, key, "")

    def no_time(message: Any) -> None:
        message.ClearField(time_field)

    def future(message: Any) -> None:
        set_time(message, time_field, datetime(2099, 1, 1, tzinfo=UTC))

    return {"no_id": no_id, "no_key": no_key, "no_time": no_time, "future_time": future}
