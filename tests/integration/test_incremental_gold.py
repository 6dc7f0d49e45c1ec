"""Gold on real tables: a run recomputes only the day partitions its inputs' changes touch."""

from __future__ import annotations

import pytest

from pipelines.adapters.landing import write_landing_file
from pipelines.core.names import Layer
from pipelines.ports import incremental
from pipelines.services.build import build_product, build_silver
from pipelines.services.ingest import ingest_event
from tests import oracle


def _land_ingest_silver(runtime, events, name):
    domain = runtime.domain("payments")
    by_event = {}
    for event, message in events:
        by_event.setdefault(event, []).append(message.SerializeToString())
    for event, payloads in by_event.items():
        write_landing_file(runtime.settings.landing_dir, "payments", event, name, payloads)
    for event in domain.spec.events:
        ingest_event(domain, event, runtime.contract("payments", event), runtime.landing, runtime, name)
    return sum(build_silver(domain, entity, runtime, name).rows for entity in domain.spec.entities)


def _gold(runtime):
    table = runtime.domain("payments").product_table("settlement_summary")
    rows = runtime.store_for("payments", Layer.GOLD, "settlement_summary").read(table).to_pylist()
    return {(r["day"], r["currency"]): (r["captured"], r["captures"], r["refunded"], r["refunds"], r["net"])
            for r in rows}  # fmt: skip


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_run_after_new_events_recomputes_only_the_days_they_touch_and_equals_a_rebuild(
    make_runtime, fmt, monkeypatch
):
    monkeypatch.setattr(incremental, "ROWS_PER_FILE", 256)  # files as in a large table: many, each a key range
    runtime = make_runtime(fmt)
    domain = runtime.domain("payments")
    classes = {e.message: runtime.schemas.message_class(e.message) for e in domain.spec.events.values()}
    events = list(domain.generator(classes, 6_000, 3))
    cut = len(events) - len(events) // 50  # the last 2% of arrivals (and a few replayed ones) come later
    _land_ingest_silver(runtime, events[:cut], "run-1")
    first = build_product(domain, "settlement_summary", runtime, "run-1")
    assert first.details["mode"] == "full"

    silver_rows = _land_ingest_silver(runtime, events[cut:] + events[:20], "run-2")  # new, late and duplicates
    second = build_product(domain, "settlement_summary", runtime, "run-2")
    assert second.details["mode"] == "incremental"
    built = _gold(runtime)
    days, touched = {str(day) for day, _ in built}, second.details["partitions"]
    assert 0 < len(touched) <= len(days) // 2 and set(touched) <= days  # the recent days, not all of them
    assert 0 < second.details["rows_read"] <= silver_rows // 3  # rows of the changed files and of those days
    assert built == oracle.settlement_summary(runtime)

    third = build_product(domain, "settlement_summary", runtime, "run-3")
    assert (third.details["mode"], third.details["partitions"], third.details["rows_read"]) == ("incremental", [], 0)

    rebuilt = build_product(domain, "settlement_summary", runtime, "backfill", full=True)
    assert rebuilt.details["mode"] == "full" and rebuilt.details["rows_read"] == silver_rows
    assert _gold(runtime) == built
