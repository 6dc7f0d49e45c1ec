"""A deterministic generator of the shipping domain's events, drawn from the shared simulated shop."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..world import Event, Order, emit, standard_defects, timed

DEFECTS = {
    "shipment_dispatched": standard_defects("shipment_id", "dispatched_at"),
    "shipment_delivered": standard_defects("shipment_id", "delivered_at"),
    "delivery_failed": standard_defects("shipment_id", "failed_at"),
}


def generate(classes: Mapping[str, type[Any]], count: int, seed: int = 7) -> Iterator[tuple[str, Any]]:
    """Yield `count` events as `(event name, message)` in arrival order.

    ShipmentDispatched for every order that is not cancelled, DeliveryFailed for failed attempts
    (about 7% of parcels, up to three attempts), ShipmentDelivered for parcels that arrive; late,
    duplicated and bad events included.

    Args:
        classes: message classes by full name (compiled at run time from schemas/shipping).
        count: how many events to yield (duplicates and bad events included).
        seed: the random seed of the shared world; the same seed yields the same events.
    """
    dispatched_cls = classes["meshlake.shipping.v1.ShipmentDispatched"]
    delivered_cls = classes["meshlake.shipping.v1.ShipmentDelivered"]
    failed_cls = classes["meshlake.shipping.v1.DeliveryFailed"]

    def events(order: Order) -> list[Event]:
        if order.dispatched_at is None:
            return []
        dispatched = dispatched_cls(
            event_id=order.event_id(8),
            shipment_id=order.shipment_id,
            order_id=order.order_id,
            carrier=order.carrier,
            country=order.country,
            postal_code=order.postal_code,
            recipient_name=order.recipient,
            tracking_number=f"TN{order.shipment_id[1:]}",
            sequence=1,
        )
        out = [timed("shipment_dispatched", dispatched, "dispatched_at", order.dispatched_at)]
        for attempt, (failed_at, reason) in enumerate(order.failures, start=1):
            failed = failed_cls(
                event_id=order.event_id(8 + attempt),
                shipment_id=order.shipment_id,
                order_id=order.order_id,
                reason=reason,
                attempt=attempt,
                sequence=1 + attempt,
            )
            out.append(timed("delivery_failed", failed, "failed_at", failed_at))
        if order.delivered_at:
            delivered = delivered_cls(
                event_id=order.event_id(3),
                shipment_id=order.shipment_id,
                order_id=order.order_id,
                sequence=2 + len(order.failures),
            )
            out.append(timed("shipment_delivered", delivered, "delivered_at", order.delivered_at))
        return out

    return emit(seed, count, "shipping", events, DEFECTS)
