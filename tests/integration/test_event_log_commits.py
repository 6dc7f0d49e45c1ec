"""A step's commits reach its event log as the store makes them: timed on their own, with the rows they updated.

Real Iceberg and Delta stores on tmp_path hold both the domain's table and its event log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.adapters.capabilities import candidates_for, incremental_for
from pipelines.adapters.table_stores import open_table_store
from pipelines.core.event_log import EventKind
from pipelines.core.names import Layer, TableId
from pipelines.ports.table_store import TableStore
from pipelines.services.event_log import RUN_ID_PROPERTY, read_events, step_events

TABLE = TableId("shop", "silver_carts")
SCHEMA = pa.schema([pa.field("cart_id", pa.string(), nullable=False), pa.field("items", pa.int64())])
RUN = "run-1"
MINE = {RUN_ID_PROPERTY: RUN}


class _Tables:
    """Every layer of the domain in one store (the `Tables` the step writes its event log through)."""

    def __init__(self, store: TableStore) -> None:
        self.store = store

    def store_for(self, domain: str, layer: Layer, product: str | None = None) -> TableStore:
        return self.store


@pytest.fixture(params=["iceberg", "delta"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TableStore:
    store = open_table_store(request.param, tmp_path)
    store.ensure_table(TABLE, SCHEMA)
    return store


def _rows(keys: list[str], items: int) -> pa.Table:
    return pa.table({"cart_id": keys, "items": [items] * len(keys)}, schema=SCHEMA)


def _commits(store: TableStore) -> list[dict[str, Any]]:
    events = read_events(store, TableId.event_log("shop"), kinds=[EventKind.COMMIT]).to_pylist()
    return [e for e in events if e["run_id"] == RUN]


def test_a_commit_is_timed_on_its_own_not_since_what_came_before(store: TableStore) -> None:
    def slow_batches() -> Iterator[pa.Table]:
        yield _rows(["a"], 1)
        time.sleep(0.5)  # producing the rows is part of writing them
        yield _rows(["b"], 1)

    with step_events(_Tables(store), "shop", "shop/silver/carts", RUN):
        time.sleep(1.0)  # the step's work before its first commit
        first = store.append_batches(TABLE, slow_batches(), lambda: MINE)
        store.append(TABLE, _rows(["c"], 1), MINE)
        store.append(TABLE, _rows(["d"], 1))  # another run's (no run id of this one): not this step's
        [logged_first, logged_second] = _commits(store)
    assert logged_first["version"] == first.version and logged_first["rows_added"] == 2
    assert 500 <= logged_first["duration_ms"] < 1000  # the batches' writing, not the second before it
    assert logged_second["duration_ms"] < 500


def test_an_upsert_records_the_rows_it_updated(store: TableStore) -> None:
    store.append(TABLE, _rows(["a", "b", "c"], 1))
    with step_events(_Tables(store), "shop", "shop/silver/carts", RUN):
        incremental_for(store).replace_keys(TABLE, "cart_id", pa.array(["b", "c", "d"]),
                                            lambda _: _rows(["b", "c", "d"], 2), MINE)  # fmt: skip
    [upsert] = _commits(store)
    assert (upsert["rows_updated"], upsert["rows"]) == (2, 4)  # b and c; d is new


def test_a_published_candidate_is_one_commit_and_a_refused_one_none(store: TableStore) -> None:
    candidates = candidates_for(store)
    store.append(TABLE, _rows(["a", "b"], 1))
    with step_events(_Tables(store), "shop", "shop/gold/carts", RUN):
        staged = incremental_for(candidates.staging()).replace_keys(
            TABLE, "cart_id", pa.array(["b"]), lambda _: _rows(["b"], 2), MINE
        )
        assert staged.commit is not None and not _commits(store)  # readers do not see it: no commit yet
        published = candidates.publish(TABLE, staged.commit.version)
    [commit] = _commits(store)
    assert (commit["version"], commit["rows_updated"]) == (published.version, 1)
    with step_events(_Tables(store), "shop", "shop/gold/carts", "run-2"):
        candidates.staging().append(TABLE, _rows(["z"], 1), {RUN_ID_PROPERTY: "run-2"})
    assert not [e for e in read_events(store, TableId.event_log("shop")).to_pylist() if e["run_id"] == "run-2"
                and e["kind"] == EventKind.COMMIT]  # fmt: skip
