"""The position ledger folded from commit properties decides where ingestion resumes."""

from __future__ import annotations

import pytest

from pipelines.core.commits import Commit
from pipelines.core.positions import (
    POSITIONS_PROPERTY,
    Ledger,
    PositionRange,
    decode_positions,
    encode_positions,
    merge_ranges,
)
from pipelines.ports.incremental import MAINTENANCE_PROPERTY
from pipelines.ports.maintenance import SCHEMA_PROPERTY, carried_properties, state_checkpoint


def test_positions_round_trip_through_a_commit_property() -> None:
    ranges = [PositionRange("orders/order_placed/b.pb", 0, 10), PositionRange("nats:EVENTS_ORDERS/x", 5, 9)]
    assert sorted(decode_positions(encode_positions(ranges))) == sorted(ranges)


def test_ledger_keeps_the_furthest_end_of_each_source() -> None:
    commits = [
        {POSITIONS_PROPERTY: encode_positions([PositionRange("a", 0, 10)])},
        {"other": "x"},
        {POSITIONS_PROPERTY: encode_positions([PositionRange("a", 10, 25), PositionRange("b", 0, 3)])},
    ]
    ledger = Ledger.from_commits(commits)
    assert ledger.consumed_until("a") == 25
    assert ledger.consumed_until("b") == 3
    assert ledger.consumed_until("never-seen") == 0


def test_malformed_property_names_the_property() -> None:
    with pytest.raises(ValueError, match=POSITIONS_PROPERTY):
        decode_positions('{"not": "a list"}')


def test_a_range_cannot_run_backwards() -> None:
    with pytest.raises(ValueError, match="invalid"):
        PositionRange("a", 5, 2)


def test_merged_ranges_join_touching_runs_and_keep_gaps() -> None:
    def a(start: int, end: int) -> PositionRange:
        return PositionRange("a", start, end)

    def b(start: int, end: int) -> PositionRange:
        return PositionRange("b", start, end)

    ranges = [a(10, 20), b(3, 4), a(0, 10), a(25, 26), b(1, 2), a(15, 22)]
    assert merge_ranges(ranges) == [a(0, 22), a(25, 26), b(1, 2), b(3, 4)]


def test_a_maintenance_commit_carries_exact_positions_and_the_newest_state() -> None:
    history = [
        Commit(
            1, 1, 0, {POSITIONS_PROPERTY: encode_positions([PositionRange("replay:f", 7, 8)]), SCHEMA_PROPERTY: "v1"}
        ),
        Commit(
            2, 2, 0, {POSITIONS_PROPERTY: encode_positions([PositionRange("replay:f", 3, 4)]), SCHEMA_PROPERTY: "v2"}
        ),
        Commit(3, 3, 0, {"meshlake.run_id": "r3"}),
    ]
    carried = carried_properties(history, "compaction")
    assert decode_positions(carried[POSITIONS_PROPERTY]) == [
        PositionRange("replay:f", 3, 4),
        PositionRange("replay:f", 7, 8),
    ]
    assert carried[SCHEMA_PROPERTY] == "v2" and "meshlake.run_id" not in carried
    assert state_checkpoint(history) == carried | {MAINTENANCE_PROPERTY: "checkpoint"}
    assert state_checkpoint([*history, Commit(4, 4, 0, carried)]) is None  # the newest commit holds it all
