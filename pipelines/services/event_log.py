"""Recording what a step did in its domain's event log: its start and each commit written as they happen.

This is the one seam through which runs, commits, quarantine, expectations, publishing, schema
evolution and maintenance reach `<domain>.event_log`: a step opens `step_events(...)`, which appends
`run_started` at once and then hears of every commit the step makes the moment a table store makes
it (`pipelines.ports.commit_observers`), timed by the store, and appends it; the step hands it the
other results the services return, which go with the next append (a commit, or the step's end).
A step killed outright (kill -9) leaves its start and the commits it made. Writing the log never
fails the step: a failure to write is logged and the events are tried again with the next ones.
The event log's own commits are not recorded (it has no event log of its own).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.commits import Commit
from pipelines.core.event_log import EVENT_LOG_SCHEMA, Event, EventKind, event_rows
from pipelines.core.expectations import Outcome
from pipelines.core.names import Layer, TableId
from pipelines.ports.commit_observers import Committed, observing_commits
from pipelines.ports.table_store import TableStore
from pipelines.services.tables import Tables
from pipelines.services.wap import Publication

log = logging.getLogger(__name__)

RUN_ID_PROPERTY = "meshlake.run_id"
"""The commit property naming the run that made a commit (every service writes it)."""


_AT_ONCE = frozenset({EventKind.RUN_STARTED, EventKind.COMMIT, EventKind.RUN_FINISHED, EventKind.RUN_FAILED})
"""Events appended the moment they happen, with those waiting: what a step killed outright must leave behind.
The others wait for the next of these, an append fewer each (an Iceberg append costs more as the log's history
grows)."""


def _now() -> datetime:
    return datetime.now(UTC)


class StepEvents:
    """The events of one step (an asset materialisation, a maintenance op) of one run of a domain.

    Args:
        tables: the stores of the domain's tables (the event log's among them).
        domain: the domain whose event log is written.
        asset: the step, `<domain>/<layer>/<name>` for an asset.
        run_id: the run.
        clock: the time of each event.
    """

    def __init__(
        self, tables: Tables, domain: str, asset: str, run_id: str, clock: Callable[[], datetime] = _now
    ) -> None:
        self.tables = tables
        self.domain = domain
        self.asset = asset
        self.run_id = run_id
        self.clock = clock
        self.started = clock()
        self.events: list[Event] = []
        """Events not written yet (they go with the next start, commit or end, as do those a failed write left)."""
        self._recorded: set[tuple[str, int]] = set()
        self._candidates: dict[tuple[str, int], Committed] = {}
        self._lock = threading.RLock()  # the log's own append reports its commit

    def add(self, kind: EventKind, **fields: Any) -> None:
        """Record one event now (`fields`: the columns of `Event`); a start, commit or end is written at once."""
        self._record([self._event(kind, **fields)], kind in _AT_ONCE)

    def _event(self, kind: EventKind, **fields: Any) -> Event:
        fields.setdefault("happened_at", self.clock())
        return Event(domain=self.domain, run_id=self.run_id, asset=self.asset, kind=kind, **fields)

    def committed(self, committed: Committed) -> None:
        """Record a commit of this run's (its `meshlake.run_id` property says so) as a table store makes it.

        A candidate (write-audit-publish) is recorded when it is published, as one commit: the
        candidate's counts and the time of writing plus publishing it. A refused one is no commit.
        """
        commit, table = committed.commit, str(committed.table)
        if commit.properties.get(RUN_ID_PROPERTY) != self.run_id or committed.table == TableId.event_log(self.domain):
            return
        key = (table, commit.version)
        with self._lock:
            if committed.candidate:
                self._candidates[key] = committed
                return
            if key in self._recorded:
                return
            self._recorded.add(key)
            written = self._candidates.pop(key, None)
        duration, updated, rows = committed.duration_ms, committed.rows_updated, committed.table_rows
        if written is not None:
            duration += written.duration_ms
            updated, rows = written.rows_updated, written.table_rows
        counts = _commit_counts(commit)
        counts["rows_updated"] = counts["rows_updated"] if counts["rows_updated"] is not None else updated
        self.add(
            EventKind.COMMIT,
            happened_at=datetime.fromtimestamp(commit.timestamp_ms / 1000, UTC),
            table=table,
            version=commit.version,
            rows=rows,
            duration_ms=duration,
            **counts,
        )

    def quarantined(self, table: TableId, count: int, reasons: Mapping[str, int]) -> None:
        """Record rejects sent to quarantine, by reason kind."""
        if count:
            self.add(EventKind.QUARANTINE, table=str(table), rows_added=count, detail={"reasons": dict(reasons)})

    def schema_evolved(self, table: TableId, changes: Sequence[str], schema_version: int) -> None:
        """Record a change of a table's schema (none: nothing recorded)."""
        if changes:
            self.add(
                EventKind.SCHEMA_EVOLUTION,
                table=str(table),
                detail={"changes": list(changes), "schema_version_number": schema_version},
            )

    def expectations(self, table: TableId, outcomes: Iterable[Outcome]) -> None:
        """Record each expectation's result; the observed value is the count of failing rows."""
        self._record(
            [
                self._event(
                    EventKind.EXPECTATION,
                    table=str(table),
                    check=o.name,
                    severity="error" if o.blocking else "warn",
                    passed=o.passed,
                    observed=float(o.failing_rows),
                    message=o.description,
                )
                for o in outcomes
            ],
            write=False,
        )

    def publication(self, table: TableId, publication: Publication, rows: int, new: bool) -> None:
        """Record what write-audit-publish did with a product's candidate: published it (holding `rows`; `new`:
        the catalog had not recorded that version yet), or refused it and why."""
        if publication.published:
            detail = {"new_version": new, "warnings": list(publication.warnings), "failing": list(publication.failing)}
            self.add(EventKind.PUBLISH, table=str(table), version=publication.candidate, rows=rows, detail=detail)
        else:
            self.add(
                EventKind.REFUSAL,
                table=str(table),
                version=publication.candidate,
                message=publication.message,
                detail={"checks": list(publication.failing), "warnings": list(publication.warnings)},
            )

    def maintained(self, table: TableId, detail: Mapping[str, Any]) -> None:
        """Record what maintenance did to a table."""
        self.add(EventKind.MAINTENANCE, table=str(table), detail=detail)

    def _record(self, events: list[Event], write: bool) -> None:
        """Add `events` to those waiting; with `write`, append them all to the domain's event log in one commit (a
        failure is logged, never raised, and the events wait for the next write)."""
        with self._lock:
            self.events += events
            if not write or not self.events:
                return
            try:
                store = self.tables.store_for(self.domain, Layer.EVENT_LOG)
                table = TableId.event_log(self.domain)
                store.ensure_table(table, EVENT_LOG_SCHEMA)
                store.append(table, event_rows(self.events))
            except Exception:
                log.warning(
                    "could not write %d event(s) of run %s (%s) to %s.event_log",
                    len(self.events),
                    self.run_id,
                    self.asset,
                    self.domain,
                    exc_info=True,
                )
            else:
                self.events.clear()


@contextmanager
def step_events(
    tables: Tables, domain: str, asset: str, run_id: str, clock: Callable[[], datetime] = _now
) -> Iterator[StepEvents]:
    """Record a step: `run_started`, its commits and what the body adds, then `run_finished` or `run_failed`.

    Each is written as it happens. The body's exception is re-raised after its `run_failed` is written.
    """
    events = StepEvents(tables, domain, asset, run_id, clock)
    events.add(EventKind.RUN_STARTED, happened_at=events.started)
    try:
        with observing_commits(events.committed):
            yield events
    except BaseException as exc:
        events.add(EventKind.RUN_FAILED, duration_ms=_since(events), message=f"{type(exc).__name__}: {exc}")
        raise
    else:
        events.add(EventKind.RUN_FINISHED, duration_ms=_since(events))


def _since(events: StepEvents) -> int:
    return int((events.clock() - events.started) / timedelta(milliseconds=1))


def _commit_counts(commit: Commit) -> dict[str, int | None]:
    """The counts of a commit its table recorded (`Commit.stats`), as event fields."""
    stats = commit.stats
    return {
        name: stats.get(name)
        for name in ("rows_added", "rows_updated", "rows_deleted", "files_added", "files_removed", "bytes_added")
    }


def read_events(
    store: TableStore,
    table: TableId,
    since: datetime | None = None,
    kinds: Sequence[str] = (),
    tables: Sequence[str] = (),
) -> pa.Table:
    """The rows of an event log (none when it does not exist yet), oldest first, filtered.

    Args:
        since: only events at or after this time.
        kinds: only events of these kinds (all when empty).
        tables: only events about these tables (all when empty).
    """
    if not store.exists(table):
        return EVENT_LOG_SCHEMA.empty_table()
    rows = store.read(table)
    if since is not None:
        rows = rows.filter(pc.greater_equal(rows.column("happened_at"), pa.scalar(since, pa.timestamp("us", tz="UTC"))))
    if kinds:
        rows = rows.filter(pc.is_in(rows.column("kind"), pa.array(list(kinds), pa.string())))
    if tables:
        rows = rows.filter(pc.is_in(rows.column("table_name"), pa.array(list(tables), pa.string())))
    return rows.sort_by([("happened_at", "ascending")])
