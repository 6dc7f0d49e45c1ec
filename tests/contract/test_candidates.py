"""Behaviour suite of CandidateTables (write-audit-publish): every table format agrees, the memory fake too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.adapters.capabilities import candidates_for, incremental_for, maintenance_for
from pipelines.adapters.memory import MemoryTableStore
from pipelines.core.names import TableId
from pipelines.ports.commit_check import ConcurrentCommitError
from pipelines.ports.table_store import TableStore
from tests.contract.conftest import STORE_FACTORIES

T = TableId("shop", "balances")
SCHEMA = pa.schema([pa.field("item", pa.string()), pa.field("amount", pa.int64())])


@pytest.fixture(params=sorted(STORE_FACTORIES))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], TableStore]:
    """A new store object of one implementation over the same directory (the memory store: one object, it has none)."""
    if request.param == "memory":
        store = MemoryTableStore()
        return lambda: store
    return lambda: STORE_FACTORIES[request.param](request, tmp_path)


def _rows(table: pa.Table) -> list[tuple[str, int]]:
    return sorted((r["item"], r["amount"]) for r in table.to_pylist())


def _published(open_store: Callable[[], TableStore]) -> TableStore:
    store = open_store()
    store.ensure_table(T, SCHEMA)
    store.append(T, pa.table({"item": ["a", "b"], "amount": [1, 2]}, schema=SCHEMA), {"meshlake.n": "1"})
    return store


def test_a_staged_write_changes_nothing_readers_see_and_its_candidate_reads_as_written(
    open_store: Callable[[], TableStore],
) -> None:
    store = _published(open_store)
    history = store.history(T)
    candidates = candidates_for(store)

    commit = candidates.staging().overwrite(T, pa.table({"item": ["a"], "amount": [-1]}, schema=SCHEMA))

    for reader in (store, open_store()):
        assert reader.history(T) == history
        assert _rows(reader.read(T)) == [("a", 1), ("b", 2)]
    candidate = candidates_for(open_store()).candidate(T, commit.version)
    assert candidate.base is not None and candidate.commit == commit
    assert _rows(candidates.read_candidate(T, commit.version)) == [("a", -1)]
    assert candidates.read_candidate(T, commit.version, ["amount"]).column_names == ["amount"]


def test_publishing_makes_the_candidate_current_in_one_commit_with_its_properties(
    open_store: Callable[[], TableStore],
) -> None:
    store = _published(open_store)
    history = store.history(T)
    candidates = candidates_for(store)
    staged = candidates.staging()

    commit = staged.append(T, pa.table({"item": ["c"], "amount": [3]}, schema=SCHEMA), {"meshlake.n": "2"})
    published = candidates.publish(T, commit.version)

    reader = open_store()
    assert reader.history(T) == [*history, published]
    assert published.version == commit.version and published.properties == {"meshlake.n": "2"}
    assert _rows(reader.read(T)) == [("a", 1), ("b", 2), ("c", 3)]
    with pytest.raises(LookupError):
        candidates.publish(T, commit.version)


def test_a_keyed_rewrite_through_the_staging_store_is_a_candidate(open_store: Callable[[], TableStore]) -> None:
    store = _published(open_store)
    candidates = candidates_for(store)
    staged = candidates.staging()
    replacement = pa.table({"item": ["b", "d"], "amount": [20, 4]}, schema=SCHEMA)

    rewrite = incremental_for(staged).replace_keys(T, "item", pa.array(["b", "d"]), lambda _: replacement)

    assert rewrite.commit is not None and rewrite.table_rows == 3
    assert _rows(store.read(T)) == [("a", 1), ("b", 2)]
    assert _rows(candidates.read_candidate(T, rewrite.commit.version)) == [("a", 1), ("b", 20), ("d", 4)]
    candidates.publish(T, rewrite.commit.version)
    assert _rows(open_store().read(T)) == [("a", 1), ("b", 20), ("d", 4)]


def test_a_candidate_is_not_published_over_a_version_committed_after_its_base(
    open_store: Callable[[], TableStore],
) -> None:
    store = _published(open_store)
    candidates = candidates_for(store)
    commit = candidates.staging().append(T, pa.table({"item": ["c"], "amount": [3]}, schema=SCHEMA))
    store.append(T, pa.table({"item": ["e"], "amount": [5]}, schema=SCHEMA))
    history = store.history(T)

    with pytest.raises(ConcurrentCommitError):
        candidates.publish(T, commit.version)

    assert open_store().history(T) == history
    assert _rows(open_store().read(T)) == [("a", 1), ("b", 2), ("e", 5)]


def test_a_kept_candidate_stays_inspectable_until_a_later_one_is_published_or_it_is_discarded(
    open_store: Callable[[], TableStore],
) -> None:
    store = _published(open_store)
    candidates = candidates_for(store)
    staged = candidates.staging()
    refused = staged.overwrite(T, pa.table({"item": ["a"], "amount": [-1]}, schema=SCHEMA))

    candidates.keep(T, refused.version, ["range_amount"])

    kept = candidates_for(open_store()).kept(T)
    assert kept is not None and kept.commit.version == refused.version and kept.failing == ("range_amount",)
    assert _rows(candidates.read_candidate(T, refused.version)) == [("a", -1)]
    assert _rows(open_store().read(T)) == [("a", 1), ("b", 2)]
    passing = staged.append(T, pa.table({"item": ["c"], "amount": [3]}, schema=SCHEMA))
    candidates.publish(T, passing.version)
    assert candidates.kept(T) is None
    again = staged.overwrite(T, pa.table({"item": ["z"], "amount": [-9]}, schema=SCHEMA))
    candidates.keep(T, again.version, ["range_amount"])
    candidates.discard(T)
    assert candidates.kept(T) is None
    with pytest.raises(LookupError):
        candidates.read_candidate(T, again.version)
    assert _rows(open_store().read(T)) == [("a", 1), ("b", 2), ("c", 3)]


def test_a_kept_candidate_outlives_a_later_candidate_that_was_never_audited(
    open_store: Callable[[], TableStore],
) -> None:
    """The next build stages its candidate and dies before its audit: the refused one is still kept, rows and all,
    until a later candidate is published."""
    store = _published(open_store)
    candidates = candidates_for(store)
    staged = candidates.staging()
    refused = staged.overwrite(T, pa.table({"item": ["a"], "amount": [-1]}, schema=SCHEMA))
    candidates.keep(T, refused.version, ["range_amount"])
    store.append(T, pa.table({"item": ["c"], "amount": [3]}, schema=SCHEMA))
    crashed = staged.append(T, pa.table({"item": ["d"], "amount": [4]}, schema=SCHEMA))

    reopened = candidates_for(open_store())
    kept = reopened.kept(T)
    assert kept is not None and (kept.commit.version, kept.failing) == (refused.version, ("range_amount",))
    assert _rows(reopened.read_candidate(T, refused.version)) == [("a", -1)]
    assert _rows(reopened.read_candidate(T, crashed.version)) == [("a", 1), ("b", 2), ("c", 3), ("d", 4)]
    reopened.publish(T, crashed.version)
    assert reopened.kept(T) is None
    assert _rows(open_store().read(T)) == [("a", 1), ("b", 2), ("c", 3), ("d", 4)]


def test_maintenance_keeps_a_refused_candidate_within_retention_and_discards_it_after(
    open_store: Callable[[], TableStore],
) -> None:
    store = _published(open_store)
    candidates = candidates_for(store)
    refused = candidates.staging().overwrite(T, pa.table({"item": ["a"], "amount": [-1]}, schema=SCHEMA))
    candidates.keep(T, refused.version, ["range_amount"])
    maintenance = maintenance_for(store)

    maintenance.expire(T, timedelta(hours=1))
    maintenance.remove_orphans(T, timedelta(hours=1))

    assert _rows(candidates.read_candidate(T, refused.version)) == [("a", -1)]
    assert maintenance.expire(T, timedelta(hours=1)).candidate_discarded is None
    assert maintenance.expire(T, timedelta(0)).candidate_discarded == refused.version
    maintenance.remove_orphans(T, timedelta(0))
    assert candidates.kept(T) is None
    assert maintenance.expire(T, timedelta(0)).candidate_discarded is None
    with pytest.raises(LookupError):
        candidates.read_candidate(T, refused.version)
    assert _rows(open_store().read(T)) == [("a", 1), ("b", 2)]
