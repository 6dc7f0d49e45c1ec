"""The TableMaintenance capability: compact small files, expire old versions, remove orphan files."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, runtime_checkable

from pipelines.core.commits import Commit
from pipelines.core.names import TableId
from pipelines.core.positions import POSITIONS_PROPERTY, decode_positions, encode_positions, merge_ranges
from pipelines.ports.incremental import MAINTENANCE_PROPERTY

UPSTREAM_PROPERTY = "meshlake.upstream"
SCHEMA_VERSION_PROPERTY = "meshlake.schema_version"
SCHEMA_PROPERTY = "meshlake.schema"
"""The event's compiled descriptors, recorded when its schema version changes (checked before evolving)."""
SCHEMA_MESSAGE_PROPERTY = "meshlake.schema_message"
SCHEMA_LOG_PROPERTY = "meshlake.schema_versions"
"""On maintenance commits: `[[fingerprint, first used (ms), first commit], ...]` of every schema version so far."""


@dataclass(frozen=True)
class Compaction:
    """What a compaction did: live data files before and after, and its commit (None: nothing to do)."""

    files_before: int
    files_after: int
    rows: int
    commit: Commit | None


@dataclass(frozen=True)
class Expiry:
    """What an expiry did: versions no longer reachable by time travel, files deleted, and the version of the
    refused candidate it discarded (write-audit-publish: kept past the retention), if any."""

    versions_expired: int
    files_deleted: int
    candidate_discarded: int | None = None


@runtime_checkable
class TableMaintenance(Protocol):
    """Keeps a table's storage small without changing its rows.

    Compaction commits carry `meshlake.maintenance` plus the state properties of earlier commits
    (`carried_properties`), so that expiring those commits loses neither the bronze ledger nor a
    silver watermark, and incremental readers skip the compaction. Where no compaction ran, the
    maintenance service makes a checkpoint commit of no rows before expiry (`state_checkpoint`).
    """

    def data_files(self, table: TableId) -> int:
        """How many data files the current version of the table reads."""
        ...

    def stored_files(self, table: TableId) -> int:
        """How many files (data and metadata) the table keeps on storage, reachable or not."""
        ...

    def compact(self, table: TableId, small_file_bytes: int, min_files: int = 2) -> Compaction:
        """Rewrite the data files smaller than `small_file_bytes` into as few files as the target size
        allows, when there are at least `min_files` of them; rows are unchanged.

        Raises:
            TableNotFoundError: the table does not exist.
        """
        ...

    def expire(self, table: TableId, retention: timedelta, keep: Collection[int] = ()) -> Expiry:
        """Forget versions older than `retention` (the current one always stays) and delete the files
        only they referenced; time travel to versions within `retention` keeps working.

        `keep` names versions a consumer still reads from (a silver watermark): they and every later
        version stay, whatever their age, so that reading "what was appended since" stays possible.
        A refused candidate (`CandidateTables.kept`) older than `retention` is discarded, and so is
        a candidate never audited (its run died); `Expiry.candidate_discarded` names the refused one.

        Raises:
            TableNotFoundError: the table does not exist.
        """
        ...

    def remove_orphans(self, table: TableId, older_than: timedelta, keep: Collection[int] = ()) -> int:
        """Delete files under the table's location that no version references and that are older than
        `older_than` (younger ones may belong to a write in progress); returns how many. The files of
        the versions after a `keep` one stay, as in `expire`.

        Raises:
            TableNotFoundError: the table does not exist.
        """
        ...


STATE_PROPERTIES = (UPSTREAM_PROPERTY, SCHEMA_VERSION_PROPERTY, SCHEMA_PROPERTY, SCHEMA_MESSAGE_PROPERTY)
"""Properties whose newest value is the table's state; a maintenance commit repeats each."""


def schema_log(history: Iterable[Commit]) -> list[tuple[str, int, int]]:
    """Each schema version a table's commits used, in order: `(fingerprint, first used (ms), first commit)`.

    Starts from the log a maintenance commit carried (its commits may have expired), then adds the
    versions of the commits after it.
    """
    log: dict[str, tuple[str, int, int]] = {}
    for commit in history:
        if carried := commit.properties.get(SCHEMA_LOG_PROPERTY):
            try:
                log |= {str(f): (str(f), int(at), int(v)) for f, at, v in json.loads(carried) if str(f) not in log}
            except (TypeError, ValueError) as exc:
                raise ValueError(f"commit property {SCHEMA_LOG_PROPERTY} is malformed: {carried[:80]!r}") from exc
        fingerprint = commit.properties.get(SCHEMA_VERSION_PROPERTY)
        if fingerprint and fingerprint not in log:
            log[fingerprint] = (fingerprint, commit.timestamp_ms, commit.version)
    return list(log.values())


def carried_properties(history: Iterable[Commit], reason: str) -> dict[str, str]:
    """The properties a maintenance commit repeats so that the table's state survives expiry.

    Every position range of `meshlake.positions` (merged: one range per contiguous run of a source,
    so replayed single offsets stay exact), the schema versions used so far (`schema_log`), the newest
    value of each of `STATE_PROPERTIES`, plus `meshlake.maintenance = reason`.
    """
    commits = list(history)
    props: dict[str, str] = {MAINTENANCE_PROPERTY: reason}
    ranges = [r for c in commits if (text := c.properties.get(POSITIONS_PROPERTY)) for r in decode_positions(text)]
    if ranges:
        props[POSITIONS_PROPERTY] = encode_positions(merge_ranges(ranges))
    if versions := schema_log(commits):
        props[SCHEMA_LOG_PROPERTY] = json.dumps(versions, separators=(",", ":"))
    for name in STATE_PROPERTIES:
        latest: Mapping[str, str] | None = next((c.properties for c in reversed(commits) if name in c.properties), None)
        if latest is not None:
            props[name] = latest[name]
    return props


def state_checkpoint(history: Sequence[Commit], seen: Collection[int] | None = None) -> dict[str, str] | None:
    """The properties of a commit holding the table's whole state, or None when the newest commit does.

    Expiry keeps the newest commit whatever the retention, so after such a commit nothing of the
    ledger or a watermark depends on older ones.

    Args:
        history: the table's commits, oldest first.
        seen: the versions a maintenance run read before its own commits. A maintenance commit after
            them was built from them alone, so a commit that landed meanwhile (an ingestion during a
            compaction) is missing from it: such maintenance commits are left out of the state.
    """
    if not history:
        return None
    folded = [c for c in history if seen is None or c.version in seen or MAINTENANCE_PROPERTY not in c.properties]
    state = carried_properties(folded, "checkpoint")
    newest = carried_properties(history[-1:], "checkpoint")
    return None if newest == state else state
