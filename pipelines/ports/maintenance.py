"""The TableMaintenance capability: compact small files, expire old versions, remove orphan files."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, runtime_checkable

from pipelines.core.commits import Commit
from pipelines.core.names import TableId
from pipelines.core.positions import POSITIONS_PROPERTY, Ledger, PositionRange, encode_positions
from pipelines.ports.incremental import MAINTENANCE_PROPERTY

UPSTREAM_PROPERTY = "meshlake.upstream"
SCHEMA_VERSION_PROPERTY = "meshlake.schema_version"


@dataclass(frozen=True)
class Compaction:
    """What a compaction did: live data files before and after, and its commit (None: nothing to do)."""

    files_before: int
    files_after: int
    rows: int
    commit: Commit | None


@dataclass(frozen=True)
class Expiry:
    """What an expiry did: versions no longer reachable by time travel, files deleted."""

    versions_expired: int
    files_deleted: int


@runtime_checkable
class TableMaintenance(Protocol):
    """Keeps a table's storage small without changing its rows.

    Compaction commits carry `meshlake.maintenance` plus the state properties of earlier commits
    (`carried_properties`), so that expiring those commits loses neither the bronze ledger nor a
    silver watermark, and incremental readers skip the compaction.
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

        Raises:
            TableNotFoundError: the table does not exist.
        """
        ...

    def remove_orphans(self, table: TableId, older_than: timedelta) -> int:
        """Delete files under the table's location that no version references and that are older than
        `older_than` (younger ones may belong to a write in progress); returns how many.

        Raises:
            TableNotFoundError: the table does not exist.
        """
        ...


def carried_properties(history: Iterable[Commit], reason: str) -> dict[str, str]:
    """The properties a maintenance commit repeats so that the table's state survives expiry.

    The bronze ledger (`meshlake.positions`, folded: one range `[0, end)` per source), the latest
    upstream watermark and schema version, plus `meshlake.maintenance = reason`.
    """
    commits = list(history)
    ledger = Ledger.from_commits(c.properties for c in commits)
    props: dict[str, str] = {MAINTENANCE_PROPERTY: reason}
    if sources := ledger.sources():
        props[POSITIONS_PROPERTY] = encode_positions(PositionRange(s, 0, end) for s, end in sources.items())
    for name in (UPSTREAM_PROPERTY, SCHEMA_VERSION_PROPERTY):
        latest: Mapping[str, str] | None = next((c.properties for c in reversed(commits) if name in c.properties), None)
        if latest is not None:
            props[name] = latest[name]
    return props
