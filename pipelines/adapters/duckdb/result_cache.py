"""Answers an engine already gave, kept for the same SELECT.

An engine's views stay on the table versions it planned, so its answer to a repeatable SELECT (see
`SelectShape.repeatable`) cannot change while it lives; a server drops the engine as soon as a table
a query names has a new version (`DuckDbQueryEngine.serves_as_planned`), and its cache with it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

from pipelines.ports.query_engine import QueryResult

MAX_BYTES = 64 * 1024 * 1024
# One answer may take at most this share of the cache; bigger ones are not kept.
MAX_SHARE = 8


class ResultCache:
    """The most recently used answers, by (SQL text, row limit), within `max_bytes` of Arrow buffers."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._answers: OrderedDict[tuple[str, int | None], QueryResult] = OrderedDict()

    def get(self, sql: str, max_rows: int | None) -> QueryResult | None:
        """The kept answer, marked `cached`, or None."""
        answer = self._answers.get((sql, max_rows))
        if answer is None:
            return None
        self._answers.move_to_end((sql, max_rows))
        return replace(answer, cached=True)

    def put(self, sql: str, max_rows: int | None, answer: QueryResult) -> None:
        """Keep `answer` unless it is too big, dropping the least recently used ones to make room."""
        size = answer.table.nbytes
        if size > self._max_bytes // MAX_SHARE or (sql, max_rows) in self._answers:
            return
        self._answers[(sql, max_rows)] = answer
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, dropped = self._answers.popitem(last=False)
            self._bytes -= dropped.table.nbytes
