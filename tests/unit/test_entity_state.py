"""Entity state from changes: newer events win per event type, order and batching never matter."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core import entity_state as es
from pipelines.core.stable_hash import stable_hash64

T0 = datetime(2026, 10, 1, tzinfo=UTC)

Change = tuple[str, str | None, int, int, str, object]


def _changes(rows: list[Change]) -> dict[str, pl.DataFrame]:
    """(event, key, minute, sequence, event id, value) rows → change frames of `placed` and `shipped`."""
    frames = {}
    for event, column in (("placed", "amount"), ("shipped", "carrier")):
        picked = [r for r in rows if r[0] == event]
        frame = pl.DataFrame(
            {
                "id": [r[1] for r in picked],
                column: [r[5] for r in picked],
                es.EVENT_TIME: [T0 + timedelta(minutes=r[2]) for r in picked],
                es.SEQUENCE: [r[3] for r in picked],
                es.EVENT_ID: [r[4] for r in picked],
            },
            schema={
                "id": pl.String,
                column: pl.Int64 if column == "amount" else pl.String,
                es.EVENT_TIME: pl.Datetime("us", "UTC"),
                es.SEQUENCE: pl.Int64,
                es.EVENT_ID: pl.String,
            },
        )
        frames[event] = es.with_versions(frame)
    return frames


EVENTS: list[Change] = [
    ("placed", "A", 0, 1, "a1", 10),
    ("placed", "A", 5, 2, "a2", 12),  # an amendment: newer
    ("shipped", "A", 60, 3, "a3", "dhl"),
    ("placed", "B", 3, 1, "b1", 7),
    ("shipped", "B", 1, 2, "b2", "ups"),  # ships "before" it is placed: clocks differ, still its own column
    ("placed", "C", 9, 1, "c1", 1),
    ("placed", "C", 9, 2, "c2", 2),  # same time: the sequence decides
]


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns)


def test_newest_event_per_type_wins_and_columns_of_other_types_stay() -> None:
    state = es.merge_state(pl.DataFrame(), _changes(EVENTS), "id").sort("id")
    assert state.select("id", "amount", "carrier").rows() == [("A", 12, "dhl"), ("B", 7, "ups"), ("C", 2, None)]


@pytest.mark.parametrize("seed", range(5))
def test_any_order_and_any_batching_with_duplicates_gives_the_same_state(seed: int) -> None:
    expected = es.merge_state(pl.DataFrame(), _changes(EVENTS), "id")
    rng = random.Random(seed)
    shuffled = EVENTS + rng.sample(EVENTS, 3)  # producer retries
    rng.shuffle(shuffled)
    state = pl.DataFrame()
    for start in range(0, len(shuffled), 2):  # late events arrive in later runs
        state = es.merge_state(state, _changes(shuffled[start : start + 2]), "id")
    assert _sorted(state).equals(_sorted(expected))


def test_an_older_event_arriving_late_does_not_overwrite_newer_state() -> None:
    state = es.merge_state(pl.DataFrame(), _changes([("placed", "A", 5, 2, "a2", 12)]), "id")
    late = es.merge_state(state, _changes([("placed", "A", 0, 1, "a1", 10)]), "id")
    assert late["amount"].to_list() == [12]


@pytest.mark.parametrize("seed", range(3))
def test_a_null_key_is_one_key_with_each_event_s_newest_change_in_any_batching(seed: int) -> None:
    unkeyed: list[Change] = [
        ("placed", None, 0, 1, "n1", 3), ("placed", None, 4, 1, "n2", 4), ("shipped", None, 2, 1, "n3", "dpd")
    ]  # fmt: skip
    rows = EVENTS + unkeyed
    rng = random.Random(seed)
    rng.shuffle(rows)
    state = pl.DataFrame()
    for start in range(0, len(rows), 3):
        state = es.merge_state(state, _changes(rows[start : start + 3]), "id")
    assert state.filter(pl.col("id").is_null()).select("amount", "carrier").rows() == [(4, "dpd")]
    history = es.replay_history(pl.DataFrame(), _changes(rows), "id").filter(pl.col("id").is_null())
    assert history.filter("is_current").select("amount", "carrier").rows() == [(4, "dpd")]


def test_two_event_types_may_not_claim_one_column() -> None:
    frames = _changes(EVENTS)
    frames["shipped"] = frames["shipped"].with_columns(pl.lit(1).alias("amount"))
    with pytest.raises(ValueError, match="'amount' is set by both placed and shipped"):
        es.merge_state(pl.DataFrame(), frames, "id")


def test_history_has_a_row_per_event_with_validity_and_late_events_slot_in() -> None:
    first = [e for e in EVENTS if e[4] != "a2"]
    history = es.replay_history(pl.DataFrame(), _changes(first), "id")
    history = es.replay_history(
        history, _changes([("placed", "A", 5, 2, "a2", 12), ("placed", "A", 0, 1, "a1", 10)]), "id"
    )
    a = history.filter(pl.col("id") == "A").sort(es.VALID_FROM)
    assert a.select("amount", "carrier", "is_current").rows() == [
        (10, None, False),
        (12, None, False),
        (12, "dhl", True),
    ]
    assert a[es.VALID_TO].to_list()[:2] == a[es.VALID_FROM].to_list()[1:]
    full = es.replay_history(pl.DataFrame(), _changes(EVENTS), "id")
    assert _sorted(history).equals(_sorted(full))
    current = history.filter(pl.col(es.IS_CURRENT)).select(
        es.merge_state(pl.DataFrame(), _changes(EVENTS), "id").columns
    )
    assert _sorted(current).equals(_sorted(es.merge_state(pl.DataFrame(), _changes(EVENTS), "id")))


_TIMES = (
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)) | st.none()
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(_TIMES, st.integers(-(2**63), 2**63 - 1) | st.none(), st.text(max_size=6) | st.none()),
        min_size=1,
        max_size=30,
    )
)
def test_versions_sort_like_time_then_sequence_and_are_null_without_a_time(
    rows: list[tuple[datetime | None, int | None, str | None]],
) -> None:
    frame = pl.DataFrame(
        rows,
        schema={es.EVENT_TIME: pl.Datetime("us", "UTC"), es.SEQUENCE: pl.Int64, es.EVENT_ID: pl.String},
        orient="row",
    )
    version = es.versions(frame[es.EVENT_TIME], frame[es.SEQUENCE], frame[es.EVENT_ID])
    assert version.is_null().to_list() == [t is None for t, _, _ in rows]
    timed = [(t, s or 0, v) for (t, s, _), v in zip(rows, version.to_list(), strict=True) if t is not None]
    for (t1, s1, v1), (t2, s2, v2) in itertools.pairwise(timed):
        if (t1, s1) != (t2, s2):
            assert (v1 < v2) == ((t1, s1) < (t2, s2))


def test_the_same_event_always_gets_the_same_version_and_ids_break_ties() -> None:
    frame = pl.DataFrame(
        {es.EVENT_TIME: [T0] * 3, es.SEQUENCE: [1] * 3, es.EVENT_ID: ["e1", "e2", "e1"]},
        schema={es.EVENT_TIME: pl.Datetime("us", "UTC"), es.SEQUENCE: pl.Int64, es.EVENT_ID: pl.String},
    )
    first, second, again = es.versions(frame[es.EVENT_TIME], frame[es.SEQUENCE], frame[es.EVENT_ID])
    assert first == again != second
    assert len(first) == 24


def test_the_event_id_hash_is_fnv1a_and_never_changes() -> None:
    # test vectors published with FNV (isthe.com/chongo/tech/comp/fnv): "", "a", "foobar"
    hashes = stable_hash64(pl.Series(["", "a", "foobar", None]))
    assert [int(h) for h in hashes] == [0xCBF29CE484222325, 0xAF63DC4C8601EC8C, 0x85944171F73967E8, 0xCBF29CE484222325]
    assert int(stable_hash64(pl.Series(["x", "foobar"]).slice(1, 1))[0]) == 0x85944171F73967E8


def test_bytes_event_ids_hash_as_their_bytes_even_when_not_utf8() -> None:
    hashes = stable_hash64(pl.Series([b"a", b"foobar", None, b"\xff\xfe"]))
    assert [int(h) for h in hashes[:3]] == [0xAF63DC4C8601EC8C, 0x85944171F73967E8, 0xCBF29CE484222325]
    assert int(hashes[3]) not in (0xCBF29CE484222325, 0xAF63DC4C8601EC8C)
