"""Every TableStore asks a write's `CommitCheck` about the commits other writers made since its plan."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from pipelines.core.commits import Commit
from pipelines.ports.commit_check import CommitCheck, ConcurrentCommitError, refuse_all
from pipelines.ports.table_store import TableStore
from tests.contract.test_table_store import ORDERS, SCHEMA, order_ids, positions, rows


def two_writers(open_store: Callable[[], TableStore]) -> tuple[TableStore, TableStore]:
    """Two store objects on one directory with the orders table (the memory store: one object, it has no directory)."""
    mine, theirs = open_store(), open_store()
    mine.ensure_table(ORDERS, SCHEMA)
    return mine, theirs if theirs.exists(ORDERS) else mine


@pytest.mark.parametrize("how", ["append", "append_batches", "overwrite"])
def test_a_check_sees_the_commits_made_since_its_plan_and_may_refuse_them(
    open_store: Callable[[], TableStore], stored_files: Callable[[], list[str]], how: str
) -> None:
    mine, theirs = two_writers(open_store)
    plan = mine.history(ORDERS)
    theirs.append(ORDERS, rows(1), positions(1))
    files_before = {f for f in stored_files() if f.endswith(".parquet")}
    shown: list[Sequence[Commit]] = []

    def refuse(newer: Sequence[Commit]) -> bool:
        shown.append(newer)
        return False

    with pytest.raises(ConcurrentCommitError, match=r"another writer committed first by run\(s\) run-1"):
        if how == "append":
            mine.append(ORDERS, rows(2), positions(2), check=CommitCheck.on(plan, refuse))
        elif how == "overwrite":  # a stale rewrite must not replace the newer rows
            mine.overwrite(ORDERS, rows(2), positions(2), check=CommitCheck.on(plan, refuse))
        else:
            mine.append_batches(ORDERS, iter([rows(2)]), lambda: positions(2), check=CommitCheck.on(plan, refuse))

    assert [[c.properties["meshlake.run_id"] for c in newer] for newer in shown] == [["run-1"]]
    assert order_ids(mine.read(ORDERS)) == [1]
    assert len(mine.history(ORDERS)) == 1
    assert {f for f in stored_files() if f.endswith(".parquet")} == files_before  # the refused commit's are removed


def test_an_accepting_check_commits_on_top_and_an_unchanged_table_needs_no_asking(
    open_store: Callable[[], TableStore],
) -> None:
    mine, theirs = two_writers(open_store)
    plan = mine.history(ORDERS)
    first = mine.append(ORDERS, rows(1), positions(1), check=CommitCheck.on(plan, refuse_all))
    theirs.append(ORDERS, rows(2), positions(2))
    mine.append_batches(ORDERS, iter([rows(3)]), lambda: positions(3), check=CommitCheck(first.version, lambda _: True))
    assert order_ids(mine.read(ORDERS)) == [1, 2, 3]
    assert [c.properties["meshlake.run_id"] for c in mine.history(ORDERS)] == ["run-1", "run-2", "run-3"]
