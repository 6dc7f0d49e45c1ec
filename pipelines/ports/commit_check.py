"""Optimistic concurrency for table commits: what a writer planned on, and whether newer commits spoil its plan.

A writer reads a table's history (its ledger of positions, its watermark), plans a commit from it,
writes data files, then commits. Another process may commit in between. A `CommitCheck` given to
a store's write names the last commit the plan saw; before committing, the store shows the check
every commit made since, and commits only if the check accepts them, atomically on the table state
it showed (a commit racing that one makes the store ask again). A refused check raises
`ConcurrentCommitError` with nothing committed and the written files removed: the writer re-plans
from the new history, or gives up.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipelines.core.commits import Commit
from pipelines.core.names import TableId

MAX_COMMIT_ATTEMPTS = 50
"""Commits lost to other writers before a write gives up (each loss means another writer made progress)."""


def pause_after_lost_race(attempt: int) -> None:
    """Wait before trying again what lost its `attempt`-th race to another process: a random moment growing with
    the attempt, so that two losers do not meet again at once."""
    time.sleep(random.uniform(0, 0.01 * attempt))


@dataclass(frozen=True)
class CommitCheck:
    """The commit a writer planned on and its test of the commits made since.

    Attributes:
        seen: `Commit.version` of the newest commit the writer's plan read; None when it read none.
        accepts: given every commit made since `seen` (oldest first, never empty), whether this
            commit still holds on top of them. When `seen` is no longer in the history (expired),
            it is shown the whole history.
    """

    seen: int | None
    accepts: Callable[[Sequence[Commit]], bool]

    @classmethod
    def on(cls, history: Sequence[Commit], accepts: Callable[[Sequence[Commit]], bool]) -> CommitCheck:
        """A check planned on `history` (the table's `history()` the plan read)."""
        return cls(history[-1].version if history else None, accepts)

    def allows(self, history: Sequence[Commit]) -> bool:
        """Whether a commit on top of `history` (the table's current one) is accepted."""
        newer = commits_since(history, self.seen)
        return not newer or self.accepts(newer)


def commits_since(history: Sequence[Commit], seen: int | None) -> list[Commit]:
    """The commits of `history` after the one whose version is `seen` (all of them when it is absent or None)."""
    for index in range(len(history) - 1, -1, -1):
        if history[index].version == seen:
            return list(history[index + 1 :])
    return list(history)


def refuse_all(_newer: Sequence[Commit]) -> bool:
    """A check's `accepts` for a write that holds only on the exact state it read (an upsert, a publish)."""
    return False


class ConcurrentCommitError(RuntimeError):
    """Another writer committed to the table first and the writer's `CommitCheck` refused its commits."""

    def __init__(self, table: TableId, newer: Sequence[Commit] = ()) -> None:
        runs = sorted({c.properties.get("meshlake.run_id", "?") for c in newer})
        by = f" by run(s) {', '.join(runs)}" if runs else ""
        super().__init__(f"{table}: another writer committed first{by}; nothing was committed")
        self.table = table
        self.runs = runs
        """The runs that committed first, for the logs."""
        self.version = newer[-1].version if newer else None
        """The table's version their commits made (None: not known)."""
