"""Recording what a step did in its domain's event log: gathered in memory, written in one commit when it ends.

This is the one seam through which runs, commits, quarantine, expectations, publishing, schema
evolution and maintenance reach `<domain>.event_log`: a step opens `step_events(...)`, hands it the
results the services return, and the events are appended when the step ends, failed or not. Writing
the log never fails the step: a failure to write is logged (and the events are lost). The event log's
own commits are not recorded (it has no event log of its own).

A step killed outright (kill -9) writes nothing; Dagster's own run records still show it.
"""

from __future__ import annotations

import logging
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
from pipelines.ports.table_store import TableStore
from pipelines.services.tables import Tables
from pipelines.services.wap import Publication

log = logging.getLogger(__name__)

RUN_ID_PROPERTY = "meshlake.run_id"
"""The commit property naming the run that made a commit (every service writes it)."""


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
        self._recorded: set[tuple[str, int]] = set()

    def add(self, kind: EventKind, **fields: Any) -> None:
        """Record one event now (`fields`: the columns of `Event`)."""
        fields.setdefault("happened_at", self.clock())
        self.events.append(Event(domain=self.domain, run_id=self.run_id, asset=self.asset, kind=kind, **fields))

    def commits(self, store: TableStore, table: TableId, rows: int | None = None) -> None:
        """Record every commit this run made to `table` not recorded yet, with its counts.

        A commit is this run's when its `meshlake.run_id` property says so. `rows`: the table's rows
        after the run's last commit, when the caller knows them.
        """
        if not store.exists(table):
            return
        history = store.history(table)
        mine = [c for c in history if c.properties.get(RUN_ID_PROPERTY) == self.run_id]
        previous = self.started
        for commit in mine:
            at = datetime.fromtimestamp(commit.timestamp_ms / 1000, UTC)
            if (str(table), commit.version) not in self._recorded:
                self._recorded.add((str(table), commit.version))
                self.add(
                    EventKind.COMMIT,
                    happened_at=at,
                    table=str(table),
                    version=commit.version,
                    rows=rows if commit is mine[-1] else None,
                    duration_ms=max(0, int((at - previous) / timedelta(milliseconds=1))),
                    **_commit_counts(commit),
                )
            previous = at

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
        for o in outcomes:
            self.add(
                EventKind.EXPECTATION,
                table=str(table),
                check=o.name,
                severity="error" if o.blocking else "warn",
                passed=o.passed,
                observed=float(o.failing_rows),
                message=o.description,
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

    def write(self) -> None:
        """Append the events to the domain's event log in one commit; a failure is logged, never raised."""
        if not self.events:
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
    """Record a step: `run_started`, what the body adds, then `run_finished` or `run_failed`, written at the end.

    The body's exception is re-raised after the events are written.
    """
    events = StepEvents(tables, domain, asset, run_id, clock)
    events.add(EventKind.RUN_STARTED, happened_at=events.started)
    try:
        yield events
    except BaseException as exc:
        events.add(EventKind.RUN_FAILED, duration_ms=_since(events), message=f"{type(exc).__name__}: {exc}")
        raise
    else:
        events.add(EventKind.RUN_FINISHED, duration_ms=_since(events))
    finally:
        events.write()


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
