"""Silver upserts of changes with a null entity key: the stored null-key row is found and replaced, as a rebuild has it.

The accounts project's `ledgers` are keyed by a column its conform functions derive (`l-` and the account id's last
digit), null for accounts of tier 0 and negative balances. The first build holds ledgers l-0 to l-4 and the null one;
the upsert's keys are new ledgers (above the stored files' key range) and the null key, or the null key alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.services.build import build_silver
from pipelines.settings import Settings
from tests.accounts import land_ingest
from tests.paths import ACCOUNTS

DOMAIN, ENTITY, KEY = "accounts", "ledgers", "ledger"
START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Callable[[str], Runtime]]:
    runtimes: list[Runtime] = []

    def make(fmt: str) -> Runtime:
        values = {"MESHLAKE_HOME": str(tmp_path / "home"), "MESHLAKE_FORMAT": fmt}
        runtimes.append(Runtime(Settings.load(project=ACCOUNTS, env=values)))
        return runtimes[-1]

    yield make
    for runtime in runtimes:
        runtime.close()


def _events(runtime: Runtime, digits: range, keyed: bool, minutes: range, seed: int) -> list[tuple[str, Any]]:
    """200 events at `minutes` of accounts whose ids end in `digits`, of no ledger (tier 0, negative balance) and, when
    `keyed`, of a ledger (tier above 0, balance not negative); both types, sequences 0 to 2."""
    rng = random.Random(seed)
    classes = {e: runtime.schemas.message_class(s.message) for e, s in runtime.domain(DOMAIN).spec.events.items()}
    kinds = [False, True] if keyed else [False]
    events = []
    for n in range(200):
        has_ledger = rng.choice(kinds)
        event = "account_opened" if rng.random() < 0.3 else "balance_changed"
        account = f"a-{rng.randrange(10)}{rng.choice(digits)}"
        message = classes[event](event_id=f"e-{seed}-{n}", account_id=account, seq=rng.randrange(3))
        message.at.FromDatetime(START + timedelta(minutes=rng.choice(minutes)))  # many events share a time
        if event == "account_opened":
            message.owner, message.tier = f"owner {n}", rng.randrange(1, 4) if has_ledger else 0
        else:
            message.balance = rng.randrange(0, 50_000) if has_ledger else -rng.randrange(1, 5_000)
            message.rate = rng.random()
        events.append((event, message))
    return events


def _build(runtime: Runtime, run: str, full: bool = False) -> str:
    mode: str = build_silver(runtime.domain(DOMAIN), ENTITY, runtime, run, full).details["mode"]
    return mode


def _rows(runtime: Runtime) -> tuple[pa.Table, pa.Table]:
    """The state and history tables, rows in the order of all their columns."""
    domain = runtime.domain(DOMAIN)
    store = runtime.store_for(DOMAIN, Layer.SILVER)
    tables = (store.read(domain.silver_table(ENTITY)), store.read(domain.history_table(ENTITY)))
    state, history = (t.sort_by([(c, "ascending") for c in t.column_names]) for t in tables)
    return state, history


@pytest.mark.parametrize("fmt", ["iceberg", "delta", "memory"])
@pytest.mark.parametrize("keyed", [True, False], ids=["new-ledgers-and-null", "only-null"])
def test_an_upsert_of_null_key_changes_replaces_the_stored_null_key_row_as_a_rebuild_does(
    accounts: Callable[[str], Runtime], fmt: str, keyed: bool
) -> None:
    runtime = accounts(fmt)
    land_ingest(runtime, _events(runtime, range(5), True, range(0, 100), seed=1), "batch-1")
    assert _build(runtime, "first") == "full"
    stored, _ = _rows(runtime)
    assert stored.column(KEY).to_pylist() == [*(f"l-{d}" for d in range(5)), None]
    store = runtime.store_for(DOMAIN, Layer.SILVER)
    files = runtime.maintenance(store).data_files(runtime.domain(DOMAIN).silver_table(ENTITY))
    assert files == 1  # the null-key row in the one file, l-0 to l-4 its range: new keys l-5.. lie outside it

    later = _events(runtime, range(5, 10), keyed, range(100, 150), seed=2)  # newer: each null change counts
    land_ingest(runtime, later, "batch-2")
    assert _build(runtime, "upsert") == "incremental"
    state, history = _rows(runtime)

    assert _build(runtime, "rebuild", full=True) == "full"
    rebuilt_state, rebuilt_history = _rows(runtime)
    assert state.column(KEY).null_count == 1  # the stored null-key row was replaced, not added to
    assert state.num_rows == (11 if keyed else 6)
    assert state == rebuilt_state
    assert history == rebuilt_history
    current = history.filter(pc.and_(pc.is_null(history.column(KEY)), history.column("is_current")))
    assert current.num_rows == 1
    assert current.select(state.column_names) == state.filter(pc.is_null(state.column(KEY)))
