"""A deterministic generator of the payments domain's events, drawn from the shared simulated shop."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..world import Event, Order, emit, standard_defects, timed

DEFECTS = {
    "payment_authorized": standard_defects("payment_id", "authorized_at"),
    "payment_captured": standard_defects("payment_id", "captured_at"),
    "refund_issued": standard_defects("refund_id", "refunded_at"),
}
REFUND_REASONS = {1: "item damaged", 2: "wrong size", 3: "not as described", 4: "changed mind"}


def generate(classes: Mapping[str, type[Any]], count: int, seed: int = 7) -> Iterator[tuple[str, Any]]:
    """Yield `count` events as `(event name, message)` in arrival order.

    PaymentAuthorized when an order is placed (unless the payment fails), PaymentCaptured when it is
    dispatched, RefundIssued for every returned item; late, duplicated and bad events included.

    Args:
        classes: message classes by full name (compiled at run time from schemas/payments).
        count: how many events to yield (duplicates and bad events included).
        seed: the random seed of the shared world; the same seed yields the same events.
    """
    authorized_cls = classes["meshlake.payments.v1.PaymentAuthorized"]
    captured_cls = classes["meshlake.payments.v1.PaymentCaptured"]
    refund_cls = classes["meshlake.payments.v1.RefundIssued"]

    def events(order: Order) -> list[Event]:
        if order.authorized_at is None:
            return []
        authorized = authorized_cls(
            event_id=order.event_id(5),
            payment_id=order.payment_id,
            order_id=order.order_id,
            customer_id=order.customer_id,
            amount_cents=order.total_cents,
            currency=order.currency,
            method=order.method,
            sequence=1,
        )
        if order.card_last4:
            authorized.card_last4 = order.card_last4
        out = [timed("payment_authorized", authorized, "authorized_at", order.authorized_at)]
        if order.captured_at:
            captured = captured_cls(
                event_id=order.event_id(6),
                payment_id=order.payment_id,
                order_id=order.order_id,
                amount_cents=order.total_cents,
                currency=order.currency,
                sequence=2,
            )
            out.append(timed("payment_captured", captured, "captured_at", order.captured_at))
        for n, (_, _, _, refund_cents, _, reason, refund_id, refunded_at) in enumerate(order.returns):
            refund = refund_cls(
                event_id=order.event_id(7 + n),
                refund_id=refund_id,
                payment_id=order.payment_id,
                order_id=order.order_id,
                amount_cents=refund_cents,
                currency=order.currency,
                reason=REFUND_REASONS[reason],
                sequence=1,
            )
            out.append(timed("refund_issued", refund, "refunded_at", refunded_at))
        return out

    return emit(seed, count, "payments", events, DEFECTS)
