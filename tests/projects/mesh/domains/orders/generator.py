"""A deterministic generator of the orders domain's events, drawn from the shared simulated shop."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..world import Event, Order, emit, standard_defects, timed

DEFECTS = {
    "order_placed": standard_defects("order_id", "placed_at"),
    "order_cancelled": standard_defects("order_id", "cancelled_at"),
    "order_item_returned": standard_defects("return_id", "returned_at"),
}


def generate(classes: Mapping[str, type[Any]], count: int, seed: int = 7) -> Iterator[tuple[str, Any]]:
    """Yield `count` events as `(event name, message)` in arrival order.

    OrderPlaced for every order, OrderCancelled for about 5% of them, OrderItemReturned for about 7%;
    late, duplicated and contract-breaking events included (see `domains.world`).

    Args:
        classes: message classes by full name (compiled at run time from schemas/orders).
        count: how many events to yield (duplicates and bad events included).
        seed: the random seed; the same seed yields the same events.
    """
    placed_cls = classes["meshlake.orders.v1.OrderPlaced"]
    cancelled_cls = classes["meshlake.orders.v1.OrderCancelled"]
    returned_cls = classes["meshlake.orders.v1.OrderItemReturned"]

    def events(order: Order) -> list[Event]:
        placed = placed_cls(
            event_id=order.event_id(0),
            order_id=order.order_id,
            customer_id=order.customer_id,
            status=1,
            total_cents=order.total_cents,
            currency=order.currency,
            country=order.country,
            sequence=1,
        )
        for sku, quantity, price in order.items:
            placed.items.add(sku=sku, quantity=quantity, unit_price_cents=price)
        placed.attributes["channel"] = order.channel
        placed.attributes["device"] = order.device
        if order.coupon:
            placed.coupon_code = order.coupon
        out = [timed("order_placed", placed, "placed_at", order.placed_at)]
        if order.cancelled_at:
            cancelled = cancelled_cls(
                event_id=order.event_id(1), order_id=order.order_id, reason=order.cancel_reason, sequence=2
            )
            out.append(timed("order_cancelled", cancelled, "cancelled_at", order.cancelled_at))
        for n, (return_id, sku, quantity, refund, returned_at, reason, _, _) in enumerate(order.returns):
            returned = returned_cls(
                event_id=order.event_id(2 + n),
                return_id=return_id,
                order_id=order.order_id,
                sku=sku,
                quantity=quantity,
                refund_cents=refund,
                currency=order.currency,
                reason=reason,
                sequence=1,
            )
            out.append(timed("order_item_returned", returned, "returned_at", returned_at))
        return out

    return emit(seed, count, "orders", events, DEFECTS)
