"""Silver builds: bronze events since the last run → conformed changes → upsert of entity state (and SCD2).

A run reads, per event type, only the bronze rows appended since the version recorded in the silver
table's last commit (`meshlake.upstream`), deduplicates them by event id, conforms them with the
domain's pure functions and upserts the touched keys in one commit that also records the new
watermark. A backfill (`full=True`) reads all of bronze and replaces the table; given an engine that
rebuilds entities (`engine: spark`), it computes the rebuild there (see `pipelines.services.silver_rebuild`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl
import pyarrow as pa

from pipelines.core import entity_state as es
from pipelines.core.domain import Domain
from pipelines.core.event_contract import EventContract
from pipelines.core.names import Layer, TableId
from pipelines.logs import AssetRun, table_event
from pipelines.ports.commit_check import CommitCheck, ConcurrentCommitError, refuse_all
from pipelines.ports.engine import ComputeEngine, EntityEngine
from pipelines.ports.incremental import Appended
from pipelines.ports.table_store import TableNotFoundError, TableStore, conform_to_schema
from pipelines.services.incremental import (
    MODE_PROPERTY,
    UPSTREAM_PROPERTY,
    IncrementalRuntime,
    encode_upstream,
    last_upstream,
)
from pipelines.services.silver_rebuild import (
    Rebuilt,
    as_frame,
    conformer,
    finish_rows,
    rebuild_on_engine,
)

_log = logging.getLogger(__name__)


class SilverTables(IncrementalRuntime, Protocol):
    """What a silver build needs from the runtime: stores, incremental capabilities, event contracts."""

    def contract(self, domain: str, event: str) -> EventContract: ...


@dataclass
class Changes:
    """The conformed, versioned changes read from bronze for one entity."""

    frames: dict[str, pl.DataFrame]
    upstream: dict[str, int]
    rows_scanned: int = 0
    incremental: bool = True
    reasons: list[str] = field(default_factory=list)

    def keys(self, key: str) -> pa.Array:
        frames = [f.select(key) for f in self.frames.values() if f.height]
        if not frames:
            return pa.array([], pa.string())
        return pl.concat(frames).unique().to_arrow().column(0).combine_chunks()

    def count(self) -> int:
        return sum(f.height for f in self.frames.values())


@dataclass(frozen=True)
class EntityBuild:
    """What one silver run did to one table (state or history)."""

    table: TableId
    version: int
    rows: int
    changes: int | None
    """The events read (None: an engine read them and did not count them)."""
    changed_keys: int
    rows_scanned: int | None
    incremental: bool
    rows_rewritten: int
    files_rewritten: int
    files_merged_on_read: int
    upstream: dict[str, int]
    reasons: tuple[str, ...]
    schema: pa.Schema
    location: str
    engine: dict[str, Any] = field(default_factory=lambda: {"engine": "embedded"})
    """Where the rows were computed (`engine`) and the engine's metrics."""


def entity_key(domain: Domain, entity: str, contracts: dict[str, EventContract]) -> str:
    """The entity's key column: the spec's `key`, else the `entity_key` option of its first event.

    Raises:
        ValueError: neither says.
    """
    spec = domain.spec.entities[entity]
    key = spec.key or next(iter(contracts.values())).entity_key
    if not key:
        raise ValueError(f"{domain.name}.{entity}: no key: set entities.{entity}.key or the events' entity_key")
    return key


def read_changes(domain: Domain, entity: str, runtime: SilverTables, watermark: dict[str, int] | None) -> Changes:
    """Conformed changes of every event of an entity since `watermark` (None: everything)."""
    store = runtime.store_for(domain.name, Layer.BRONZE)
    reader = runtime.incremental(store)

    def read(event: str) -> tuple[Appended | None, pl.DataFrame]:
        contract = runtime.contract(domain.name, event)
        table = domain.bronze_table(event)
        after = None if watermark is None else watermark.get(str(table))
        appended: Appended | None = None
        try:
            appended = reader.read_appended(table, after)
        except TableNotFoundError:  # no event of this type landed yet
            rows = pl.from_arrow(contract.bronze_schema().empty_table())
        else:
            rows = pl.from_arrow(appended.data)
        assert isinstance(rows, pl.DataFrame)
        return appended, conformer(domain, entity, event, contract)(rows)

    events = list(domain.spec.entities[entity].events)
    with ThreadPoolExecutor(max_workers=len(events), thread_name_prefix="meshlake-changes") as pool:
        read_events = list(pool.map(read, events))  # reading and conforming mostly wait on Arrow and Polars
    changes = Changes({}, {})
    for event, (appended, frame) in zip(events, read_events, strict=True):
        changes.frames[event] = frame
        if appended is None:
            continue
        table = str(domain.bronze_table(event))
        if appended.version is not None:
            changes.upstream[table] = appended.version
        changes.rows_scanned += appended.rows_scanned
        if watermark is not None and not appended.incremental:
            changes.incremental = False
            changes.reasons.append(appended.reason)
    return changes


def _write(
    runtime: SilverTables,
    domain: Domain,
    table: TableId,
    key: str,
    changes: Changes,
    full: bool,
    build: pl.DataFrame | None,
    merge: Callable[[pl.DataFrame], pl.DataFrame] | None,
    run_id: str,
    check: CommitCheck | None,
) -> EntityBuild:
    store = runtime.store_for(domain.name, Layer.SILVER)
    mode = "full" if full else "incremental"
    props = {UPSTREAM_PROPERTY: encode_upstream(changes.upstream), MODE_PROPERTY: mode, "meshlake.run_id": run_id}
    keys = changes.keys(key)
    rewriter = runtime.incremental(store)
    if full:
        assert build is not None
        data = build.to_arrow()
        store.ensure_table(table, data.schema)
        outcome = rewriter.replace_keys(table, key, None, lambda _current: data, props, check=check)
    else:
        assert merge is not None
        upsert = merge

        def merged(current: pa.Table) -> pa.Table:
            return upsert(as_frame(current)).to_arrow()

        outcome = rewriter.replace_keys(table, key, keys, merged, props, merge_on_read=True, check=check)
    assert outcome.commit is not None
    commit, rewritten, files = outcome.commit, outcome.rows_rewritten, outcome.files_rewritten
    return EntityBuild(
        table=table,
        version=commit.version,
        rows=outcome.table_rows if outcome.table_rows is not None else len(store.read(table, [key])),
        changes=changes.count(),
        changed_keys=len(keys),
        rows_scanned=changes.rows_scanned,
        incremental=not full,
        rows_rewritten=rewritten,
        files_rewritten=files,
        files_merged_on_read=outcome.files_merged_on_read,
        upstream=changes.upstream,
        reasons=tuple(changes.reasons),
        schema=store.schema(table),
        location=store.location(table),
    )


MAX_REPLANS = 5
"""Times a silver run plans again after another run committed to its tables first."""


def build_entity(
    domain: Domain,
    entity: str,
    runtime: SilverTables,
    run_id: str,
    full: bool = False,
    engine: ComputeEngine | None = None,
) -> list[EntityBuild]:
    """Bring an entity's silver state (and SCD2 history, when the spec asks) up to date with bronze.

    Each table's commit holds only on the table as the run read it (its watermark, its rows): when
    another run (a second scheduler) committed first, the commit is refused and the run plans again
    on the new state, where the other's work is done (`ConcurrentCommitError` after `MAX_REPLANS`).

    Args:
        full: backfill: read all of bronze and replace the tables instead of upserting what changed.
        engine: where a rebuild of a table (`full`, or its first build) is computed when it is an
            `EntityEngine`; None, or a run upserting changes (small): here. Either way the commit is this
            service's, with the watermark of the bronze versions read.

    Returns:
        One result for the state table, then one for the history table if any.
    """
    for attempt in range(1, MAX_REPLANS + 1):
        try:
            return _build_entity(domain, entity, runtime, run_id, full, engine)
        except ConcurrentCommitError as exc:
            where = _run(domain, entity, run_id)
            table_event(_log, "conflict", where, exc.table, exc.version, level=logging.WARNING, rivals=exc.runs)
            if attempt == MAX_REPLANS:
                raise
            table_event(_log, "retry", where, exc.table, exc.version, attempt=attempt + 1)
    raise AssertionError("unreachable")  # pragma: no cover


def _run(domain: Domain, entity: str, run_id: str) -> AssetRun:
    return AssetRun(domain.name, f"{domain.name}/{Layer.SILVER}/{entity}", run_id)


def _build_entity(
    domain: Domain, entity: str, runtime: SilverTables, run_id: str, full: bool, engine: ComputeEngine | None
) -> list[EntityBuild]:
    spec = domain.spec.entities[entity]
    contracts = {e: runtime.contract(domain.name, e) for e in spec.events}
    key = entity_key(domain, entity, contracts)
    store = runtime.store_for(domain.name, Layer.SILVER)
    tables = [domain.silver_table(entity)] + ([domain.history_table(entity)] if spec.history else [])
    cache: dict[str, Changes] = {}
    work, done = [], []
    for table, replay in zip(tables, (False, True), strict=False):
        history = None
        with contextlib.suppress(TableNotFoundError):  # the first run builds the table
            history = store.history(table)
        exists = history is not None
        rebuild = full or history is None
        check = CommitCheck.on(history or [], refuse_all)  # holds only on the table as read here
        if rebuild and isinstance(engine, EntityEngine):  # bronze is read by the engine, one table after the other
            rebuilt = rebuild_on_engine(domain, entity, runtime, engine, key, history=replay)
            work.append((table, replay, exists, rebuild, rebuilt, check))
            continue
        watermark = None if rebuild or history is None else last_upstream(history)
        label = encode_upstream(watermark) if watermark is not None else "*"
        if label not in cache:  # the state and history tables usually share their watermark: read once
            cache[label] = read_changes(domain, entity, runtime, watermark)
        changes = cache[label]
        if history and not rebuild and not changes.count() and changes.upstream == watermark:
            done.append(_unchanged(store, table, key, history[-1].version, changes))  # e.g. another run's
            continue
        work.append((table, replay, exists, rebuild, changes, check))

    def write(
        table: TableId, replay: bool, exists: bool, rebuild: bool, changes: Changes | Rebuilt, check: CommitCheck
    ) -> EntityBuild:
        if isinstance(changes, Rebuilt):
            made = _replace(
                runtime, domain, table, key, Changes({}, changes.upstream), exists, changes.rows, run_id, check
            )
            return dataclasses.replace(
                made,
                changes=changes.events_read,
                changed_keys=made.rows,
                rows_scanned=changes.rows_scanned,
                engine=changes.metrics,
            )
        frames = changes.frames

        def merge(current: pl.DataFrame, frames: dict[str, pl.DataFrame] = frames) -> pl.DataFrame:
            combine = es.replay_history if replay else es.merge_state
            return finish_rows(domain, entity, combine(current, frames, key))

        if not rebuild:
            try:
                return _write(runtime, domain, table, key, changes, False, None, merge, run_id, check)
            except (ValueError, pl.exceptions.PolarsError) as exc:  # nothing was committed: does the table fit?
                shape = merge(pl.DataFrame(), {e: f.clear() for e, f in frames.items()})
                if (misfit := _misfit(store, table, shape)) is None:
                    raise
                raise ValueError(
                    f"{misfit}. The table was written by an older meshlake or before the domain changed its "
                    "silver columns; silver is derived from bronze: run a full rebuild (run config "
                    "`full_rebuild: true` on the silver asset), which replaces the table, or drop it"
                ) from exc
        return _replace(runtime, domain, table, key, changes, exists, merge(pl.DataFrame()), run_id, check)

    # the two tables are written side by side: much of a commit waits on files and the catalog, and
    # leaving the pool waits for both, so a failure of one never leaves the other still writing
    if not work:
        return done
    with ThreadPoolExecutor(max_workers=len(work), thread_name_prefix="meshlake-silver") as pool:
        futures = {w[0]: pool.submit(write, *w) for w in work}
    committed = {table: f.result() for table, f in futures.items()}
    for made in committed.values():
        table_event(
            _log,
            "commit",
            _run(domain, entity, run_id),
            made.table,
            version=made.version,
            rows=made.rows,
            mode="incremental" if made.incremental else "full",
            keys_changed=made.changed_keys,
        )
    built = {b.table: b for b in done} | committed
    return [built[table] for table in tables]


def _replace(
    runtime: SilverTables,
    domain: Domain,
    table: TableId,
    key: str,
    changes: Changes,
    exists: bool,
    build: pl.DataFrame,
    run_id: str,
    check: CommitCheck,
) -> EntityBuild:
    """Replace the table with a rebuild's rows, `build`."""
    store = runtime.store_for(domain.name, Layer.SILVER)
    if exists and _misfit(store, table, build):  # a rebuild adopts the build's columns (like a full
        store.drop_table(table)  # refresh): the old table goes, and with it what the check planned on
        return _write(runtime, domain, table, key, changes, True, build, None, run_id, None)
    return _write(runtime, domain, table, key, changes, True, build, None, run_id, check)


def _unchanged(store: TableStore, table: TableId, key: str, version: int, changes: Changes) -> EntityBuild:
    """A table already up to date with bronze (nothing read since its watermark): no commit is made."""
    return EntityBuild(
        table=table,
        version=version,
        rows=len(store.read(table, [key])),
        changes=0,
        changed_keys=0,
        rows_scanned=changes.rows_scanned,
        incremental=True,
        rows_rewritten=0,
        files_rewritten=0,
        files_merged_on_read=0,
        upstream=changes.upstream,
        reasons=tuple(changes.reasons),
        schema=store.schema(table),
        location=store.location(table),
    )


def _misfit(store: TableStore, table: TableId, rows: pl.DataFrame) -> str | None:
    """Why the stored table does not take rows of the build's columns, or None when it does."""
    try:
        conform_to_schema(table, rows.clear().to_arrow(), store.schema(table))
    except ValueError as exc:
        return str(exc)
    return None
