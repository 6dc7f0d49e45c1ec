"""Quarantine replay: re-decode quarantined events with the current schema and contract, exactly once.

Two commits per event type, each atomic:

1. the bronze commit appends the rows that now pass and records their quarantine keys as consumed
   positions of the sources `quarantine:<source>` (one range `[offset, offset + 1)` per row), with the
   rows keeping their original `_ingest.source` and `_ingest.offset`;
2. the quarantine commit deletes the rows whose keys bronze now records.

A run that dies between the two leaves rows in quarantine that bronze already holds: the next run
finds their keys in bronze's history, does not append them again and only finishes the delete. Two
replays at once: the bronze commit holds only if no other replay appended any of its keys since it
read the history, else it plans again on the new one.
Rows that still fail stay in quarantine with their original reason; unframed stream tails cannot be
replayed (they are not one event) and stay as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.descriptor_pb2 import FileDescriptorSet

from pipelines.core.commits import Commit
from pipelines.core.domain import Domain
from pipelines.core.event_contract import EventContract
from pipelines.core.names import Layer
from pipelines.core.positions import (
    POSITIONS_PROPERTY,
    PositionRange,
    committed_positions,
    decode_positions,
    encode_positions,
    overlap,
)
from pipelines.logs import AssetRun, table_event
from pipelines.ports.commit_check import CommitCheck, ConcurrentCommitError
from pipelines.ports.event_source import RawBatch
from pipelines.ports.table_store import batch_rows
from pipelines.services.evolution import prepare_bronze
from pipelines.services.ingest import bronze_partitioning, decode_batch
from pipelines.services.quarantine import QUARANTINE_KEY, select_rows
from pipelines.services.tables import Tables

_log = logging.getLogger(__name__)

REPLAY_SOURCE_PREFIX = "quarantine:"
REPLAYED_PROPERTY = "meshlake.replayed"
MAX_REPLANS = 5
"""Times a replay of an event type plans again after another replay appended some of the same events first."""


@dataclass
class ReplayResult:
    """What one replay did.

    Attributes:
        replayed: rows that passed now and were appended to bronze.
        removed: rows deleted from quarantine (those replayed now, and those an interrupted earlier
            run had appended already).
        still_rejected: rows that stay in quarantine.
        reasons: why the rows that stay fail now, counted by reason.
        by_event: rows replayed now, by event type.
    """

    replayed: int = 0
    removed: int = 0
    still_rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    by_event: dict[str, int] = field(default_factory=dict)


def replayed_keys(history: Sequence[Commit]) -> set[tuple[str, int]]:
    """The `(source, offset)` quarantine keys a bronze table's commits record as replayed."""
    keys: set[tuple[str, int]] = set()
    for commit in history:
        text = commit.properties.get(POSITIONS_PROPERTY)
        if text and REPLAY_SOURCE_PREFIX in text:
            for r in decode_positions(text):
                if r.source.startswith(REPLAY_SOURCE_PREFIX):
                    keys.update((r.source.removeprefix(REPLAY_SOURCE_PREFIX), o) for o in range(r.start, r.end))
    return keys


def replay_quarantine(
    domain: Domain,
    contract_of: Callable[[str], EventContract],
    tables: Tables,
    run_id: str,
    *,
    event: str | None = None,
    reason_prefix: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    max_future: timedelta = timedelta(hours=1),
    descriptors: FileDescriptorSet | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> ReplayResult:
    """Re-ingest the domain's quarantined events that pass now; they leave quarantine exactly once.

    Args:
        domain: the domain.
        contract_of: the current contract of an event type of the domain.
        tables: the stores of the domain's tables.
        run_id: recorded in the commits and the replayed rows.
        event: replay only this event type's rows.
        reason_prefix: replay only rows whose reason starts with this (e.g. `contract:`).
        clock: the time of the replayed rows and of the future-time check.
        max_future: how far in the future an event time may be.
        descriptors: the compiled schemas with source info, for file:line in a refused schema change.
        progress: told (rows looked at, rows selected) before the first event type and after each.

    Raises:
        SchemaChangeRefusedError: the current schema of an event type breaks its bronze table's;
            nothing of that event type is committed.
    """
    quarantine_store = tables.store_for(domain.name, Layer.QUARANTINE)
    quarantine = domain.quarantine_table()
    replay = _Replay(domain, tables, run_id, clock(), max_future, descriptors)
    if not quarantine_store.exists(quarantine):
        return replay.result
    rows = select_rows(quarantine_store.read(quarantine), event, reason_prefix)
    done = 0
    progress(done, rows.num_rows)
    for name in sorted(set(rows.column("event").to_pylist())):
        part = rows.filter(pc.equal(rows.column("event"), name))
        done += part.num_rows
        if name not in domain.spec.events:
            replay.stay(["unknown event type"] * part.num_rows)
            progress(done, rows.num_rows)
            continue
        leaving = replay.event(name, contract_of(name), part)
        if leaving:
            keys = pa.table(
                {"event": [name] * len(leaving), "source": [s for s, _ in leaving], "offset": [o for _, o in leaving]}
            )
            properties = {"meshlake.run_id": run_id, REPLAYED_PROPERTY: str(len(leaving))}
            removed = quarantine_store.delete_rows(quarantine, keys.select(list(QUARANTINE_KEY)), properties)
            version = removed.version if removed else None
            table_event(_log, "commit", replay.run(name), quarantine, version, rows_removed=len(leaving))
            replay.result.removed += len(leaving)
        progress(done, rows.num_rows)
    return replay.result


@dataclass
class _Replay:
    domain: Domain
    tables: Tables
    run_id: str
    now: datetime
    max_future: timedelta
    descriptors: FileDescriptorSet | None
    result: ReplayResult = field(default_factory=ReplayResult)

    def run(self, event: str) -> AssetRun:
        """The replay as the run of the event's bronze asset, for the logs."""
        return AssetRun(self.domain.name, f"{self.domain.name}/{Layer.BRONZE}/{event}", self.run_id)

    def stay(self, reasons: Iterable[str]) -> None:
        for reason in reasons:
            self.result.still_rejected += 1
            self.result.reasons[reason] = self.result.reasons.get(reason, 0) + 1

    def event(self, event: str, contract: EventContract, rows: pa.Table) -> list[tuple[str, int]]:
        """Append what passes now to bronze; return the keys bronze holds (now or from an earlier run).

        The append holds only if no other replay appended any of the same keys since this one read
        bronze's history; otherwise it plans again on the new history.

        Raises:
            ConcurrentCommitError: other replays kept committing the same keys first, `MAX_REPLANS` times.
        """
        for attempt in range(1, MAX_REPLANS + 1):
            try:
                return self._event(event, contract, rows)
            except ConcurrentCommitError as exc:
                table_event(_log, "conflict", self.run(event), exc.table, exc.version, logging.WARNING, rivals=exc.runs)
                if attempt == MAX_REPLANS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _event(self, event: str, contract: EventContract, rows: pa.Table) -> list[tuple[str, int]]:
        store = self.tables.store_for(self.domain.name, Layer.BRONZE)
        table = self.domain.bronze_table(event)
        schema = prepare_bronze(store, table, contract, bronze_partitioning(contract), self.descriptors)
        history = store.history(table)
        done = replayed_keys(history)
        leaving: list[tuple[str, int]] = []
        staying: list[str] = []
        by_source: dict[str, list[tuple[int, bytes]]] = {}
        columns = (rows.column(c).to_pylist() for c in ("source", "offset", "payload", "reason"))
        for source, offset, payload, reason in zip(*columns, strict=True):
            if (source, offset) in done:
                leaving.append((source, offset))
            elif reason.startswith("unframed:"):
                staying.append("unframed input cannot be replayed")
            else:
                by_source.setdefault(source, []).append((offset, payload))
        accepted: list[pa.Table] = []
        replayed: list[tuple[str, int]] = []
        for source, items in sorted(by_source.items()):
            batch = RawBatch(source, PositionRange(source, 0, 0), [p for _, p in items], [o for o, _ in items])
            data, rejects = decode_batch(batch, contract, self.run_id, self.now, self.max_future)
            staying += [r.reason for r in rejects]
            data = batch_rows(data)
            accepted.append(data)
            replayed += [(source, o) for o in data.column("_ingest").combine_chunks().field("offset").to_pylist()]
        if replayed:
            positions = [PositionRange(REPLAY_SOURCE_PREFIX + s, o, o + 1) for s, o in replayed]
            properties = {POSITIONS_PROPERTY: encode_positions(positions), "meshlake.run_id": self.run_id}
            check = CommitCheck.on(
                history, lambda newer: not overlap(positions, committed_positions(c.properties for c in newer))
            )
            commit = store.append(
                table, schema.conform(pa.concat_tables(accepted)), properties | schema.commit_properties(), check
            )
            table_event(_log, "commit", self.run(event), table, commit.version, rows=len(replayed), replayed=True)
            schema.committed()
            self.result.replayed += len(replayed)
            self.result.by_event[event] = self.result.by_event.get(event, 0) + len(replayed)
        self.stay(staying)
        return leaving + replayed
