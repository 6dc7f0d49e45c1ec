"""Hearing of each commit a table store makes, as it is made, with how long it took: what the event log records.

Every store method that commits is decorated with `reports_commits` in its adapter; while an
observer is registered (`observing_commits`, the event log of a running step), each such call is
timed and its commit handed to the observers the moment the method returns. Without observers
the decorator only calls the method.

A store whose writes make candidates rather than current versions (`staged()`, write-audit-publish)
says so with a true `writes_candidates` attribute; its commits are reported as candidates.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from pipelines.core.commits import Commit
from pipelines.core.names import TableId
from pipelines.ports.incremental import Rewrite

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Committed:
    """A commit just made by a store method, as its observers hear of it.

    Attributes:
        table: the table committed to.
        commit: the commit (for a candidate, the candidate's version).
        duration_ms: how long the method making it took (writing the data files and the commit).
        rows_updated: rows whose key the commit replaced (a keyed rewrite), when the method knows.
        table_rows: rows of the table after the commit, when the method knows without reading.
        candidate: the commit made a candidate version, not the current one.
    """

    table: TableId
    commit: Commit
    duration_ms: int
    rows_updated: int | None = None
    table_rows: int | None = None
    candidate: bool = False


CommitObserver = Callable[[Committed], None]

_observers: list[CommitObserver] = []
_lock = threading.Lock()


@contextmanager
def observing_commits(observer: CommitObserver) -> Iterator[None]:
    """While in the block, `observer` hears of every commit a decorated store method makes in this process.

    An observer must not raise (an error is logged and the commit stands) and should be quick:
    it runs on the thread that committed, before the store method returns.
    """
    with _lock:
        _observers.append(observer)
    try:
        yield
    finally:
        with _lock:
            _observers.remove(observer)


_S = TypeVar("_S")
_P = ParamSpec("_P")
_R = TypeVar("_R", bound=Commit | Rewrite | None)


def reports_commits(method: Callable[Concatenate[_S, TableId, _P], _R]) -> Callable[Concatenate[_S, TableId, _P], _R]:
    """Decorate a store method `(self, table, ...)` returning the commit it made (a `Commit`, a `Rewrite`, or
    None for none) so that observers hear of the commit, timed from the call to its return."""

    @functools.wraps(method)
    def timed(self: _S, table: TableId, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not _observers:
            return method(self, table, *args, **kwargs)
        start = time.perf_counter()
        result = method(self, table, *args, **kwargs)
        duration_ms = round((time.perf_counter() - start) * 1000)
        candidate = bool(getattr(self, "writes_candidates", False))
        if isinstance(result, Rewrite):
            if result.commit is not None:
                _tell(Committed(table, result.commit, duration_ms, result.rows_updated, result.table_rows, candidate))
        elif result is not None:
            _tell(Committed(table, result, duration_ms, candidate=candidate))
        return result

    return timed


def _tell(committed: Committed) -> None:
    with _lock:
        observers = list(_observers)
    for observer in observers:
        try:
            observer(committed)
        except Exception:
            _log.warning("a commit observer failed on %s version %s", committed.table, committed.commit.version,
                         exc_info=True)  # fmt: skip
