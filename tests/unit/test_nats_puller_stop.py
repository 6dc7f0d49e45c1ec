"""A run's puller always stops, even when its pulling task lost a cancellation.

Python 3.11's `asyncio.wait_for` can swallow a cancellation that arrives as its timeout fires (the puller
waits on each pull with it), so the pulling task went on and waited for a reader that had left: the run
that stopped reading (its `max_rows_per_run` reached) then waited for it for ever (seen in CI).
"""

from __future__ import annotations

import asyncio
import contextlib

from pipelines.adapters.nats.jetstream import EventStream
from pipelines.adapters.nats.pulls import Puller


class _Inboxes:
    def new_inbox(self) -> str:
        return "_INBOX.test"


async def _swallows_one_cancellation() -> None:
    with contextlib.suppress(asyncio.CancelledError):  # what wait_for does when the cancellation meets its timeout
        await asyncio.sleep(3600)
    await asyncio.sleep(3600)  # pulling on, for a reader that is gone


def test_stop_ends_a_pulling_task_that_swallowed_its_cancellation() -> None:
    async def scenario() -> None:
        puller = Puller(
            _Inboxes(),  # type: ignore[arg-type]  # stop() never uses the client
            EventStream("orders", "order_placed"),
            batch_size=1,
            ahead=1,
            fetch_timeout_s=1.0,
            max_ack_pending=1,
            last_seq=1,
        )
        task = asyncio.get_running_loop().create_task(_swallows_one_cancellation())
        puller._task = task
        await asyncio.sleep(0)  # the task waits in its first sleep
        stopping = asyncio.ensure_future(puller.stop())
        await asyncio.wait({stopping}, timeout=10)  # not wait_for: cancelling stop() would cancel the task too
        assert stopping.done(), "stop() still waits for a task that went on after its cancellation"
        assert task.done()

    asyncio.run(scenario())
