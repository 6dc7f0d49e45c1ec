"""Quarantine replay on real tables: what passes now moves to bronze exactly once, the rest stays."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from pipelines.adapters.landing import write_landing_file
from pipelines.bootstrap import Runtime
from pipelines.cli import quarantine_cmd
from pipelines.cli.quarantine_cmd import app
from pipelines.core.commits import Commit
from pipelines.core.names import Layer
from pipelines.core.positions import POSITIONS_PROPERTY
from pipelines.logs import FIELDS
from pipelines.services.ingest import ingest_event
from pipelines.services.replay import replay_quarantine
from tests.integration.ingest_helpers import orders_runtime

FORMATS = ["iceberg", "delta"]
T0 = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)
SOURCE = "orders/order_placed/mixed.pb"


def land_mixed(runtime: Runtime, at: datetime = T0) -> list[bytes]:
    """Three good events, two placed 3 h after `at`, one undecodable, one without order id."""
    cls = runtime.schemas.message_class("meshlake.orders.v1.OrderPlaced")

    def order(n: int, placed: datetime, order_id: str | None = None) -> bytes:
        msg = cls(event_id=f"e{n}", order_id=f"O{n}" if order_id is None else order_id, customer_id="C1")
        msg.placed_at.FromDatetime(placed)
        return bytes(msg.SerializeToString())

    payloads = [
        order(1, at - timedelta(hours=1)),
        order(2, at + timedelta(hours=3)),
        b"\xff\xff\xff\xff",
        order(3, at - timedelta(hours=1)),
        order(4, at + timedelta(hours=3)),
        order(5, at - timedelta(hours=1), order_id=""),
        order(6, at),
    ]
    write_landing_file(runtime.settings.landing_dir, "orders", "order_placed", "mixed", payloads)
    return payloads


def ingest(runtime: Runtime, run_id: str, at: datetime = T0) -> None:
    domain = runtime.domain("orders")
    contract = runtime.contract("orders", "order_placed")
    ingest_event(domain, "order_placed", contract, runtime.landing, runtime, run_id, clock=lambda: at)


def replay(runtime: Runtime, at: datetime, tables: object = None, **filters: str):  # type: ignore[no-untyped-def]
    return replay_quarantine(
        runtime.domain("orders"),
        lambda event: runtime.contract("orders", event),
        tables or runtime,  # type: ignore[arg-type]
        f"replay-{at:%H%M}",
        clock=lambda: at,
        **filters,  # type: ignore[arg-type]
    )


def bronze(runtime: Runtime) -> pa.Table:
    return runtime.store_for("orders", Layer.BRONZE).read(runtime.domain("orders").bronze_table("order_placed"))


def quarantine(runtime: Runtime) -> pa.Table:
    return runtime.store_for("orders", Layer.QUARANTINE).read(runtime.domain("orders").quarantine_table())


def event_ids(data: pa.Table) -> list[str]:
    return sorted(data.column("event_id").to_pylist())


def histories(runtime: Runtime) -> tuple[list[Commit], list[Commit]]:
    domain = runtime.domain("orders")
    return (
        list(runtime.store_for("orders", Layer.BRONZE).history(domain.bronze_table("order_placed"))),
        list(runtime.store_for("orders", Layer.QUARANTINE).history(domain.quarantine_table())),
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_events_that_pass_now_move_to_bronze_and_leave_quarantine_once(
    tmp_path: Path, fmt: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pipelines")
    runtime = orders_runtime(tmp_path / "home", fmt)
    payloads = land_mixed(runtime)
    ingest(runtime, "run-1")
    assert event_ids(bronze(runtime)) == ["e1", "e3", "e6"]
    assert quarantine(runtime).num_rows == 4

    unchanged = histories(runtime)
    early = replay(runtime, T0)
    assert (early.replayed, early.removed, early.still_rejected) == (0, 0, 4)
    assert histories(runtime) == unchanged  # nothing passes yet: no commit at all

    later = T0 + timedelta(hours=4)
    result = replay(runtime, later)

    assert (result.replayed, result.removed, result.still_rejected) == (2, 2, 2)
    assert result.by_event == {"order_placed": 2}
    assert set(result.reasons) == {
        "contract: order_id is missing",
        next(r for r in result.reasons if r.startswith("decode: protobuf DecodeError")),
    }
    rows = {r["event_id"]: r["_ingest"] for r in bronze(runtime).to_pylist()}
    assert sorted(rows) == ["e1", "e2", "e3", "e4", "e6"]
    offsets = {r["offset"]: r["payload"] for r in quarantine(runtime).to_pylist()}
    assert sorted(offsets.values()) == sorted([payloads[2], payloads[5]])
    for replayed in ("e2", "e4"):  # the original position, the replay's run
        assert rows[replayed]["source"] == SOURCE
        assert rows[replayed]["run_id"] == "replay-1600"
    assert rows["e2"]["offset"] not in offsets
    logged = [getattr(r, FIELDS) for r in caplog.records if getattr(r, FIELDS, {}).get("run_id") == "replay-1600"]
    bronze_commits, quarantine_commits = histories(runtime)
    assert [(e["event"], e["table"], e["asset"], e["version"]) for e in logged] == [
        ("commit", "orders.bronze_order_placed", "orders/bronze/order_placed", bronze_commits[-1].version),
        ("commit", "orders.quarantine", "orders/bronze/order_placed", quarantine_commits[-1].version),
    ]

    settled = histories(runtime)
    again = replay(runtime, later)
    assert (again.replayed, again.removed, again.still_rejected) == (0, 0, 2)
    ingest(runtime, "run-2", later)  # the landing file is done: nothing returns to quarantine
    assert histories(runtime) == settled
    assert event_ids(bronze(runtime)) == ["e1", "e2", "e3", "e4", "e6"]
    assert quarantine(runtime).num_rows == 2


class CrashOnDelete:
    """Tables whose quarantine store dies when asked to delete: a replay stopped between its two commits."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def store_for(self, domain: str, layer: Layer, product: str | None = None) -> object:
        store = self.runtime.store_for(domain, layer, product)
        if layer is not Layer.QUARANTINE:
            return store

        class Dying:
            def __getattr__(self, name: str) -> object:
                if name == "delete_rows":
                    raise SystemExit("killed between the bronze commit and the quarantine delete")
                return getattr(store, name)

        return Dying()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_replay_stopped_after_its_bronze_commit_is_finished_by_the_next_without_duplicates(
    tmp_path: Path, fmt: str
) -> None:
    runtime = orders_runtime(tmp_path / "home", fmt)
    land_mixed(runtime)
    ingest(runtime, "run-1")
    later = T0 + timedelta(hours=4)

    with pytest.raises(SystemExit):
        replay(runtime, later, tables=CrashOnDelete(runtime))
    assert event_ids(bronze(runtime)) == ["e1", "e2", "e3", "e4", "e6"]
    assert quarantine(runtime).num_rows == 4  # the delete never happened
    last = histories(runtime)[0][-1]
    assert "quarantine:orders/order_placed/mixed.pb" in last.properties[POSITIONS_PROPERTY]

    result = replay(runtime, later)

    assert (result.replayed, result.removed, result.still_rejected) == (0, 2, 2)
    assert event_ids(bronze(runtime)) == ["e1", "e2", "e3", "e4", "e6"]
    assert quarantine(runtime).num_rows == 2


class OvertakenOnAppend:
    """Tables whose bronze store lets another replay run to its end just before this replay's append."""

    def __init__(self, runtime: Runtime, rival: Callable[[], object]) -> None:
        self.runtime, self.rival, self.overtaken = runtime, rival, False

    def store_for(self, domain: str, layer: Layer, product: str | None = None) -> object:
        store = self.runtime.store_for(domain, layer, product)
        if layer is not Layer.BRONZE:
            return store
        tables = self

        class Overtaken:
            def __getattr__(self, name: str) -> object:
                return getattr(store, name)

            def append(self, *args: object, **kwargs: object) -> object:
                if not tables.overtaken:
                    tables.overtaken = True
                    tables.rival()
                return store.append(*args, **kwargs)  # type: ignore[arg-type]

        return Overtaken()


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_replays_racing_move_each_event_once(tmp_path: Path, fmt: str) -> None:
    """A second `meshlake quarantine replay` started meanwhile commits first: the first must find its commit
    and replay only what is left (nothing), not append the same events again."""
    runtime = orders_runtime(tmp_path / "home", fmt)
    land_mixed(runtime)
    ingest(runtime, "run-1")
    later = T0 + timedelta(hours=4)
    tables = OvertakenOnAppend(runtime, lambda: replay(runtime, later))

    result = replay(runtime, later, tables=tables)

    assert tables.overtaken
    assert event_ids(bronze(runtime)) == ["e1", "e2", "e3", "e4", "e6"]
    assert quarantine(runtime).num_rows == 2
    assert (result.replayed, result.still_rejected) == (0, 2)


def test_filters_limit_the_replay_to_an_event_and_a_reason_prefix(tmp_path: Path) -> None:
    runtime = orders_runtime(tmp_path / "home", "iceberg")
    land_mixed(runtime)
    ingest(runtime, "run-1")
    later = T0 + timedelta(hours=4)

    decode_only = replay(runtime, later, reason_prefix="decode:")
    assert (decode_only.replayed, decode_only.still_rejected) == (0, 1)
    assert replay(runtime, later, event="other_event").still_rejected == 0
    assert quarantine(runtime).num_rows == 4

    contract_only = replay(runtime, later, event="order_placed", reason_prefix="contract: placed_at")
    assert (contract_only.replayed, contract_only.removed, contract_only.still_rejected) == (2, 2, 0)
    assert quarantine(runtime).num_rows == 2


def test_the_cli_lists_counts_and_rows_then_replays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    runtime = orders_runtime(tmp_path / "home", "delta")
    monkeypatch.setattr(quarantine_cmd, "_runtime", lambda: runtime)  # the orders domain alone
    past = datetime.now(UTC) - timedelta(hours=2, minutes=30)
    land_mixed(runtime, at=past)
    ingest(runtime, "run-1", at=past)  # the events 3 h after `past` were in the future then, not now
    cli = CliRunner()

    listed = cli.invoke(app, ["list", "--domain", "orders"])
    assert listed.exit_code == 0, listed.output
    assert "quarantined events" in listed.output
    assert "contract: placed_at is more than N:N:N in the future" in listed.output
    assert "contract: order_id is missing" in listed.output
    assert (
        "decode: protobuf DecodeError: Error parsing message with type 'meshlake.orders.v1.OrderPlaced' (N bytes)"
        in (listed.output)
    )
    assert SOURCE in listed.output
    assert listed.output.count(SOURCE) == 4
    decode = cli.invoke(app, ["list", "--reason", "decode:", "--limit", "0"])
    assert "decode: protobuf DecodeError" in decode.output
    assert "0 of 1 rows listed" in decode.output

    replayed = cli.invoke(app, ["replay", "--domain", "orders", "--event", "order_placed"])
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 2 event(s) into bronze, 2 left quarantine, 2 stay" in replayed.output
    assert "replay orders (order_placed)" in replayed.output
    assert "4/4" in replayed.output  # the progress counts the rows looked at
    assert "1 still rejected: contract: order_id is missing" in replayed.output
    assert quarantine(runtime).num_rows == 2

    unknown = cli.invoke(app, ["replay", "--domain", "orders", "--event", "nope"])
    assert unknown.exit_code != 0
    assert "no event 'nope'" in unknown.output
