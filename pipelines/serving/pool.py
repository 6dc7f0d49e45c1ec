"""Idle DuckDB query engines kept between queries, so a server skips connecting and planning each time."""

from __future__ import annotations

import threading
from collections.abc import Hashable

from pipelines.adapters.duckdb.engine import DuckDbQueryEngine


class EnginePool:
    """At most `size` idle engines, each under the key it was built for (who reads, time travel, settings).

    An engine is taken out for one query at a time and given back after it succeeded; the oldest idle
    engine is closed when more than `size` wait. Whether a taken engine still reads the current table
    versions is the caller's check (`DuckDbQueryEngine.serves_as_planned`).
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._idle: list[tuple[Hashable, DuckDbQueryEngine]] = []
        self._lock = threading.Lock()

    def take(self, key: Hashable) -> DuckDbQueryEngine | None:
        """The most recently given idle engine built for `key`, now the caller's; None when none waits."""
        with self._lock:
            for i in range(len(self._idle) - 1, -1, -1):
                if self._idle[i][0] == key:
                    return self._idle.pop(i)[1]
        return None

    def give(self, key: Hashable, engine: DuckDbQueryEngine) -> None:
        """Keep `engine` for the next query under `key`; closes the oldest idle engines beyond `size`."""
        with self._lock:
            self._idle.append((key, engine))
            evicted = self._idle[: max(0, len(self._idle) - self._size)]
            del self._idle[: len(evicted)]
        for _, old in evicted:
            old.close()
