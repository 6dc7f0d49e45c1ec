"""The position ledger folded from commit properties decides where ingestion resumes."""

from __future__ import annotations

import pytest

from pipelines.core.positions import (
    POSITIONS_PROPERTY,
    Ledger,
    PositionRange,
    decode_positions,
    encode_positions,
)


def test_positions_round_trip_through_a_commit_property():
    ranges = [PositionRange("orders/order_placed/b.pb", 0, 10), PositionRange("nats:EVENTS_ORDERS/x", 5, 9)]
    assert sorted(decode_positions(encode_positions(ranges))) == sorted(ranges)


def test_ledger_keeps_the_furthest_end_of_each_source():
    commits = [
        {POSITIONS_PROPERTY: encode_positions([PositionRange("a", 0, 10)])},
        {"other": "x"},
        {POSITIONS_PROPERTY: encode_positions([PositionRange("a", 10, 25), PositionRange("b", 0, 3)])},
    ]
    ledger = Ledger.from_commits(commits)
    assert ledger.consumed_until("a") == 25
    assert ledger.consumed_until("b") == 3
    assert ledger.consumed_until("never-seen") == 0


def test_malformed_property_names_the_property():
    with pytest.raises(ValueError, match=POSITIONS_PROPERTY):
        decode_positions('{"not": "a list"}')


def test_a_range_cannot_run_backwards():
    with pytest.raises(ValueError, match="invalid"):
        PositionRange("a", 5, 2)
