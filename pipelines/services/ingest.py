"""Bronze ingestion: raw events → decoded rows in bronze, rejects in quarantine, exactly once.

Every commit carries the source ranges it consumed (`meshlake.positions`), so the table itself
says what it holds. Before reading, the ingestor folds the bronze history into a ledger and reads
only what follows; quarantine keeps its own ledger, so a crash between the two commits neither
loses nor doubles a reject. Stream sources are acknowledged only after the bronze commit.

Another process may ingest the same source at the same time (two schedulers, a manual run): each
commit is checked against the commits made since its ledger was read (`CommitCheck`), and one
whose positions another writer committed first is dropped, the ledger read again and reading goes
on from it. Quarantine commits are checked the same way.

Before reading, the event's schema is checked against the one the bronze table holds and the
table evolved (`evolution.prepare_bronze`); a breaking change stops the run before any commit.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
from google.protobuf.descriptor_pb2 import FileDescriptorSet

from pipelines.core.commits import Commit
from pipelines.core.domain import Domain
from pipelines.core.event_contract import INGEST_COLUMN, INGEST_TYPE, EventContract, contract_violations
from pipelines.core.fast_decode import decode_payloads_fast as decode_payloads
from pipelines.core.names import Layer, TableId
from pipelines.core.positions import (
    POSITIONS_PROPERTY,
    Ledger,
    PositionRange,
    committed_positions,
    encode_positions,
    overlap,
)
from pipelines.logs import AssetRun, table_event
from pipelines.ports.commit_check import CommitCheck, ConcurrentCommitError
from pipelines.ports.event_source import DAMAGED_PREFIX, EventSource, RawBatch
from pipelines.ports.table_store import Batch, PartitionField, Selection, TableStore
from pipelines.services.evolution import prepare_bronze
from pipelines.services.quarantine import QUARANTINE_SCHEMA, Rejected, quarantine_rows
from pipelines.services.storable import storable
from pipelines.services.tables import Tables

_log = logging.getLogger(__name__)


class UnframedInputError(Exception):
    """An input is not a varint length-delimited protobuf stream and the domain refuses such input."""


@dataclass
class IngestResult:
    """What one ingestion run did.

    Attributes:
        rows_written: rows appended to bronze.
        quarantined: rejects appended to quarantine.
        commits: the bronze commits made.
        positions: the source ranges those commits consumed.
        reasons: rejects by reason kind (`decode`, `contract`, `unframed`, `damaged`).
        damaged: the inputs quarantined whole because they could not be read (a truncated or
            corrupt compressed file), each with why.
        schema_version_number: the number of the event's schema version in its bronze table (1, 2, ...).
        schema_changes: what the table's schema evolution changed in this run.
    """

    rows_written: int = 0
    quarantined: int = 0
    commits: list[int] = field(default_factory=list)
    positions: list[PositionRange] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    damaged: dict[str, str] = field(default_factory=dict)
    schema_version_number: int = 0
    schema_changes: list[str] = field(default_factory=list)

    @property
    def received(self) -> int:
        return self.rows_written + self.quarantined

    def add(self, chunk: _Chunk, commit: Commit) -> None:
        """Count a chunk committed by `commit`."""
        for _, rejected in chunk.rejected:
            for r in rejected:
                key = r.reason.split(":")[0]
                self.reasons[key] = self.reasons.get(key, 0) + 1
                if r.reason.startswith(DAMAGED_PREFIX):
                    self.damaged[r.source] = r.reason.removeprefix(DAMAGED_PREFIX)
        self.rows_written += chunk.rows
        self.quarantined += sum(len(r) for _, r in chunk.rejected)
        self.commits.append(commit.version)
        self.positions.extend(b.range for b in chunk.batches)


BATCH_ROWS = 49_152
"""Payloads decoded and written together: memory holds a few such batches, whatever the commit's size.
Ingesting 1M events peaked at ~600 MB RSS with 131,072, ~530 MB with 65,536 and ~505 MB with 49,152, for
the same CPU time (2.3-2.5 s; benchmarks: ingest)."""
GROUP_ROWS = 32_768
"""Consecutive small batches of one source (a stream's pulls) are decoded and written together up to this many
payloads: a write of a few thousand rows costs nearly as much as one of 100,000, yet groups as large as
`BATCH_ROWS` would leave a run's decoding and writing until after its last pull."""


@dataclass
class _Chunk:
    """What one bronze commit consumed: the raw batches (without payloads), their rejects, the rows written."""

    batches: list[RawBatch] = field(default_factory=list)
    rejected: list[tuple[RawBatch, list[Rejected]]] = field(default_factory=list)
    rows: int = 0
    read: int = 0


class _Groups:
    """Consecutive source batches taken together: a stream's pulls are decoded and written `BATCH_ROWS` at a time,
    not a pull at a time (each write of a few thousand rows costs about as much as one of 100,000)."""

    def __init__(self, batches: Iterator[RawBatch]) -> None:
        self._batches = batches
        self._held: RawBatch | None = None

    def more(self) -> bool:
        """Whether a batch is left (reading it, if need be)."""
        if self._held is None:
            self._held = next(self._batches, None)
        return self._held is not None

    def take(self, most: int) -> list[RawBatch]:
        """Batches of one source until they hold `most` payloads or the next is another source's; [] at the end."""
        group: list[RawBatch] = []
        count = 0
        while count < most and self.more():
            batch = self._held
            assert batch is not None
            if group and batch.source != group[0].source:
                break
            self._held = None
            group.append(batch)
            count += len(batch.payloads)
        return group


def ingest_event(
    domain: Domain,
    event: str,
    contract: EventContract,
    source: EventSource,
    tables: Tables,
    run_id: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    max_rows_per_commit: int = 1_000_000,
    max_rows_per_run: int | None = None,
    max_future: timedelta = timedelta(hours=1),
    descriptors: FileDescriptorSet | None = None,
) -> IngestResult:
    """Ingest every pending event of `domain.event` into bronze.

    Streams: each source batch is decoded `BATCH_ROWS` payloads at a time and written as data
    files while the next is decoded (`TableStore.append_batches`); one commit per
    `max_rows_per_commit` rows records the positions consumed. The commit's rejects go to
    quarantine once its input is read, just before the bronze commit.

    Args:
        domain: the domain.
        event: the event type.
        contract: the event's current contract.
        source: where the events come from.
        tables: the stores of the domain's tables.
        run_id: recorded in every commit and row.
        clock: the time of rows and of the contract's future-time check.
        max_rows_per_commit: a commit is made once this many rows are written (after the source
            batch that reaches it).
        max_rows_per_run: the run reads no further source batch once it has read this many events
            (so it ends after the batch that reaches it: a stream pull or a landing file); None
            reads everything pending when the run starts.
        max_future: how far in the future an event time may be.
        descriptors: the compiled schemas with source info, so that a refused schema change names
            file:line (without it, line 1).

    Raises:
        UnframedInputError: an input could not be framed and the domain's `on_unframed` is `fail`;
            nothing of this run is committed. (A damaged compressed file is quarantined whole and
            named in `IngestResult.damaged`, whatever `on_unframed` says.)
        SchemaChangeRefusedError: the event's schema changed incompatibly with the bronze table's;
            nothing is committed.
    """
    bronze_store = tables.store_for(domain.name, Layer.BRONZE)
    quarantine_store = tables.store_for(domain.name, Layer.QUARANTINE)
    bronze, quarantine = domain.bronze_table(event), domain.quarantine_table()
    with ThreadPoolExecutor(1, thread_name_prefix="meshlake-quarantine") as preparing:
        quarantine_ready = preparing.submit(_prepare_quarantine, quarantine_store, quarantine)
        schema = prepare_bronze(bronze_store, bronze, contract, bronze_partitioning(contract), descriptors)
        bronze_ledger = _Ledger.of(bronze_store, bronze, schema.history)
        quarantine_ledger = quarantine_ready.result()
    result = IngestResult(schema_version_number=schema.version, schema_changes=[str(c) for c in schema.changes])
    where = AssetRun(domain.name, f"{domain.name}/{Layer.BRONZE}/{event}", run_id)

    def rows(batches: _Groups, chunk: _Chunk) -> Iterator[Batch]:
        """Decoded rows of the batches, `BATCH_ROWS` at a time, until the chunk holds a commit's worth."""
        while chunk.rows < max_rows_per_commit:
            group = batches.take(min(GROUP_ROWS, max(1, max_rows_per_commit - chunk.read)))
            if not group:
                return
            batch = _merged(group)
            unframed = [u for u in batch.unframed if not u.reason.startswith(DAMAGED_PREFIX)]
            if unframed and domain.spec.on_unframed == "fail":
                first = unframed[0]
                raise UnframedInputError(
                    f"{first.source}: byte {first.offset}: {first.reason.removeprefix('unframed: ')}: "
                    "not a varint length-delimited protobuf stream; nothing was committed"
                )
            chunk.read += len(batch.payloads)
            rejected: list[Rejected] = []
            for part in _slices(batch, BATCH_ROWS):
                decoded, rejects = decode_batch(part, contract, run_id, clock(), max_future)
                fitting, unfit = storable(bronze, schema.conform_batch(decoded), schema.schema, part)
                rejected += rejects + unfit
                chunk.rows += fitting.num_rows
                del part, decoded  # its payloads may be a view of the whole input: freed before the next is read
                yield fitting
                del fitting  # the writer owns the rows now: they go once written
            chunk.batches += group
            chunk.rejected.append((batch, rejected))

    def seal(chunk: _Chunk) -> dict[str, str]:
        """Quarantine the chunk's rejects (before bronze: see the module doc) and return bronze's commit properties."""
        ranges = [b.range for b, rejects in chunk.rejected if rejects]
        while fresh := [  # by offset, not by batch: a stream's batch re-read after a crash may reach further
            r
            for batch, rejects in chunk.rejected
            for r in rejects
            if r.offset >= quarantine_ledger.positions.consumed_until(batch.source)
        ]:
            try:
                committed = quarantine_store.append(
                    quarantine,
                    quarantine_rows(event, fresh, contract.schema_version, run_id, clock()),
                    {POSITIONS_PROPERTY: encode_positions(ranges), "meshlake.run_id": run_id},
                    check=quarantine_ledger.check(lambda: ranges),
                )
            except ConcurrentCommitError as exc:  # another writer quarantined some of them: only the others
                table_event(
                    _log,
                    "conflict",
                    where,
                    quarantine,
                    version=exc.version,
                    level=logging.WARNING,
                    rivals=exc.runs,
                )
                quarantine_ledger.reread()
                continue
            quarantine_ledger.committed(ranges, committed)
            table_event(
                _log,
                "quarantine",
                where,
                quarantine,
                version=committed.version,
                rows=len(fresh),
                reasons=dict(Counter(r.reason.split(":")[0] for r in fresh)),
            )
        ranges = [b.range for b in chunk.batches]
        return {POSITIONS_PROPERTY: encode_positions(ranges), "meshlake.run_id": run_id, **schema.commit_properties()}

    def commit(pending: Iterator[RawBatch]) -> bool:
        """Commit the pending batches a chunk at a time; False once all are, True when another writer committed
        some of a chunk's positions first (the chunk is dropped: reading goes on from the table's new ledger)."""
        groups = _Groups(pending)
        while groups.more():
            chunk = _Chunk()
            stream = rows(groups, chunk)
            check = bronze_ledger.check(functools.partial(_ranges, chunk))
            try:
                committed = bronze_store.append_batches(bronze, stream, functools.partial(seal, chunk), check=check)
            except ConcurrentCommitError as exc:
                table_event(
                    _log, "conflict", where, bronze, version=exc.version, level=logging.WARNING, rivals=exc.runs
                )
                return True
            bronze_ledger.committed(_ranges(chunk), committed)
            table_event(_log, "commit", where, bronze, version=committed.version, rows=chunk.rows)
            schema.committed()
            for batch in chunk.batches:
                source.acknowledge(batch)
            result.add(chunk, committed)
        return False

    budget = _Budget(max_rows_per_run)
    while True:
        pending = budget.take(  # an empty file has nothing to record, and recording [0, 0) would repeat every run
            b
            for b in source.batches(domain.name, event, bronze_ledger.positions)
            if b.payloads or b.unframed or b.range.end > b.range.start
        )
        if not commit(pending):
            return result
        bronze_ledger.reread()
        table_event(_log, "retry", where, bronze, version=bronze_ledger.seen)


@dataclass
class _Budget:
    """The events a run may still read: batches are taken until `most` events were read."""

    most: int | None
    read: int = 0

    def take(self, batches: Iterator[RawBatch]) -> Iterator[RawBatch]:
        while self.most is None or self.read < self.most:
            batch = next(batches, None)
            if batch is None:
                return
            self.read += len(batch.payloads) + len(batch.unframed)
            yield batch


def _ranges(chunk: _Chunk) -> list[PositionRange]:
    return [b.range for b in chunk.batches]


@dataclass
class _Ledger:
    """A table's ledger and the commit it was read up to: the plan a `CommitCheck` guards."""

    store: TableStore
    table: TableId
    positions: Ledger
    seen: int | None

    @classmethod
    def of(cls, store: TableStore, table: TableId, history: list[Commit]) -> _Ledger:
        """The ledger of `history`, the table's data commits as just read."""
        ledger = cls(store, table, Ledger(), None)
        ledger._fold(history)
        return ledger

    def reread(self) -> None:
        """Fold the table's history again (another writer committed)."""
        self._fold(self.store.history(self.table))

    def _fold(self, history: list[Commit]) -> None:
        self.positions = Ledger.from_commits(c.properties for c in history)
        self.seen = history[-1].version if history else None

    def check(self, ranges: Callable[[], list[PositionRange]]) -> CommitCheck:
        """A commit of `ranges()` holds on top of other writers' commits that consumed none of its positions.

        `ranges` is called when the check is asked: a chunk's batches are known once its rows are written.
        """
        return CommitCheck(
            self.seen, lambda newer: not overlap(ranges(), committed_positions(c.properties for c in newer))
        )

    def committed(self, ranges: list[PositionRange], commit: Commit) -> None:
        self.positions.record(ranges)
        self.seen = commit.version


def _prepare_quarantine(store: TableStore, table: TableId) -> _Ledger:
    """The domain's quarantine table, created if missing, and its ledger: made while bronze is prepared (on an
    object store each is a few round trips)."""
    store.ensure_table(table, QUARANTINE_SCHEMA)
    return _Ledger.of(store, table, store.history(table))


def _merged(group: list[RawBatch]) -> RawBatch:
    """One batch of the group's payloads (the group's batches give theirs up; they keep range and ack token)."""
    if len(group) == 1:
        return group[0]
    first, last = group[0], group[-1]
    merged = RawBatch(
        first.source,
        PositionRange(first.source, first.range.start, last.range.end),
        [p for b in group for p in b.payloads],
        np.concatenate([np.asarray(b.offsets, np.int64) for b in group]),
        [u for b in group for u in b.unframed],
    )
    for batch in group:
        batch.payloads, batch.offsets, batch.unframed = [], [], []
    return merged


def _slices(batch: RawBatch, size: int) -> Iterator[RawBatch]:
    """Take the payloads out of the batch, `size` at a time (unframed bytes, at the end of a source, go last).

    The batch keeps its source, range and ack token (its source acknowledges it by identity); a
    part's payloads are freed once the caller moves on to the next part.
    """
    payloads, offsets, unframed = batch.payloads, batch.offsets, batch.unframed
    batch.payloads, batch.offsets, batch.unframed = [], [], []
    n = len(payloads)
    parts = deque(
        replace(
            batch,
            payloads=payloads[start : start + size],
            offsets=offsets[start : start + size],
            unframed=unframed if start + size >= n else [],
        )
        for start in range(0, max(n, 1), size)
    )
    del payloads, offsets
    while parts:
        yield parts.popleft()


def bronze_partitioning(contract: EventContract) -> list[PartitionField]:
    """The partitioning of a new bronze table: the contract's partition transform, if any."""
    part = contract.partition_field()
    return [PartitionField(part[0], part[1])] if part else []  # type: ignore[arg-type]


def decode_batch(
    batch: RawBatch, contract: EventContract, run_id: str, now: datetime, max_future: timedelta
) -> tuple[Batch, list[Rejected]]:
    """Decode a batch into bronze rows (with `_ingest`) and rejects (undecodable, unframed, breaking the contract).

    Per-row work is Arrow kernels only (offsets gathered, `_ingest` values repeated); Python
    touches just the rejected rows. Rows that break the contract are left out by a `Selection` of
    the others, gathered when the rows are written, not by a copy here.
    """
    decoded = decode_payloads(contract.message_class, batch.payloads, contract.schema)
    rejects = [
        Rejected(batch.source, int(batch.offsets[i]), batch.payloads[i], f"decode: {reason}")
        for i, reason in decoded.rejected
    ]
    rejects += [Rejected(u.source, u.offset, u.payload, u.reason) for u in batch.unframed]
    table = decoded.table
    offsets = pa.array(batch.offsets, pa.int64())
    if len(decoded.accepted) < len(batch.offsets):  # accepted indexes are increasing: fewer means gaps
        offsets = offsets.take(pa.array(decoded.accepted, pa.int64()))
    violations = contract_violations(table, contract, now, max_future)
    if violations:
        for i, reason in sorted(violations.items()):
            original = decoded.accepted[i]
            rejects.append(Rejected(batch.source, int(batch.offsets[original]), batch.payloads[original], reason))
    n = table.num_rows
    ingest = pa.StructArray.from_arrays(
        [
            pa.repeat(pa.scalar(batch.source, pa.string()), n),
            offsets,
            pa.repeat(pa.scalar(now, pa.timestamp("us", tz="UTC")), n),
            pa.repeat(pa.scalar(run_id, pa.string()), n),
            pa.repeat(pa.scalar(contract.schema_version, pa.string()), n),
        ],
        fields=list(INGEST_TYPE),
    )
    rows = table.append_column(pa.field(INGEST_COLUMN, INGEST_TYPE, nullable=False), ingest)
    if not violations:
        return rows, rejects
    kept = np.ones(n, dtype=bool)
    kept[list(violations)] = False
    return Selection(rows, pa.array(np.flatnonzero(kept))), rejects
