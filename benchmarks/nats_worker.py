"""One JetStream measurement in its own process (`python -m benchmarks.nats_worker fetch|ingest ...`).

`fetch`: the baseline, what the client can receive. A bare nats-py pull of every message of the
subject (one pull request, a fresh consumer without acks) into an inbox whose callback only counts.

`ingest`: the same messages through `ingest_event` into a fresh bronze table, from a Runtime whose
only source is the stream (no landing files). Imports, the decoding kernels, opening the store and
connecting happen before the clock starts. `source_wait_s` is the time the ingest thread waited
for the source's next batch (what pulling ahead did not hide); `before_reading_s` and `after_reading_s`
are the table work before the first pull (schema, ledger) and after the last batch (last commit, acks).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.generate import DOMAIN, EVENT, ROOT

FETCH_CONSUMER = "bench_fetch"


async def _fetch(url: str, expected: int) -> dict[str, Any]:
    import nats
    import nats.js.errors
    from nats.aio.msg import Msg
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    from pipelines.adapters.nats.jetstream import EventStream

    names = EventStream(DOMAIN, EVENT)
    client = await nats.connect(url)
    js = client.jetstream()
    with contextlib.suppress(nats.js.errors.NotFoundError):  # left by an interrupted run
        await js.delete_consumer(names.stream, FETCH_CONSUMER)
    config = ConsumerConfig(
        durable_name=FETCH_CONSUMER,
        filter_subject=names.subject,
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
    )
    await js.add_consumer(names.stream, config)
    received = 0
    done = asyncio.Event()

    async def count(msg: Msg) -> None:
        nonlocal received
        if msg.reply:  # a delivery, not the pull's closing status
            received += 1
            if received == expected:
                done.set()

    inbox = client.new_inbox()
    sub = await client.subscribe(inbox, cb=count, pending_msgs_limit=expected + 1000, pending_bytes_limit=-1)
    request = {"batch": expected, "expires": 120_000_000_000}
    started, cpu = time.perf_counter(), time.process_time()
    next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{names.stream}.{FETCH_CONSUMER}"
    await client.publish(next_subject, json.dumps(request).encode(), inbox)
    await asyncio.wait_for(done.wait(), 120)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await sub.unsubscribe()
    await js.delete_consumer(names.stream, FETCH_CONSUMER)
    await client.close()
    return {"messages": received, "seconds": seconds, "cpu_seconds": cpu, "msgs_per_s": received / seconds}


def fetch(url: str, expected: int) -> dict[str, Any]:
    """Receive `expected` messages of the subject with a bare pull; rate and time."""
    return asyncio.run(_fetch(url, expected))


def ingest(url: str, home: Path, landing: Path, fmt: str) -> dict[str, Any]:
    """Ingest the subject's messages into a fresh bronze table of format `fmt`; rate, waits, peak RSS."""
    from benchmarks.measure import warm_up
    from pipelines.bootstrap import Runtime
    from pipelines.core.commits import TableFormat
    from pipelines.core.names import Layer
    from pipelines.ports.event_source import RawBatch
    from pipelines.services.ingest import ingest_event
    from pipelines.settings import Settings

    runtime = Runtime(Settings.load(project=ROOT, home=home, format=TableFormat(fmt), nats_url=url))
    domain, contract = runtime.domain(DOMAIN), runtime.contract(DOMAIN, EVENT)
    runtime.store_for(DOMAIN, Layer.BRONZE)
    warm_up(landing, contract.message_class, contract.schema)
    stream = runtime.nats
    assert stream is not None
    source = stream
    backlog = source.backlog(DOMAIN, EVENT)  # connects
    waited, first_pull, last_batch = 0.0, 0.0, 0.0

    class Timed:
        """The stream source, timing the waits for its batches, and when reading starts and ends."""

        def batches(self, domain: str, event: str, ledger: Any) -> Iterator[RawBatch]:
            nonlocal waited, first_pull, last_batch
            first_pull = first_pull or time.perf_counter()
            batches = source.batches(domain, event, ledger)
            while True:
                begun = time.perf_counter()
                batch = next(batches, None)
                last_batch = time.perf_counter()
                waited += last_batch - begun
                if batch is None:
                    return
                yield batch

        def acknowledge(self, batch: RawBatch) -> None:
            source.acknowledge(batch)

    load_before = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    result = ingest_event(domain, EVENT, contract, Timed(), runtime, run_id="bench")
    seconds = time.perf_counter() - started
    source.close()
    return {
        "format": fmt,
        "backlog": backlog,
        "messages": result.received,
        "commits": len(result.commits),
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "msgs_per_s": result.received / seconds,
        "source_wait_s": waited,
        "before_reading_s": first_pull - started,  # the table's schema and ledger, read before the stream
        "after_reading_s": started + seconds - last_batch,  # the last commit and acks
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_average_1min": [load_before, os.getloadavg()[0]],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("fetch", "ingest"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--expected", type=int, help="fetch: how many messages the subject holds")
    parser.add_argument("--home", type=Path, help="ingest: a fresh home")
    parser.add_argument("--landing", type=Path, help="ingest: landing files to warm the decoder on")
    parser.add_argument("--format", default="iceberg")
    args = parser.parse_args(argv)
    if args.mode == "fetch":
        out = fetch(args.url, args.expected)
    else:
        out = ingest(args.url, args.home, args.landing, args.format)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
