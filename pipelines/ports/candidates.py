"""The CandidateTables port: write a table's next version as a candidate readers do not see, then publish it.

Write-audit-publish: a build commits through `staging()`, which makes a candidate version instead of
a current one; the caller audits the candidate (`read_candidate`) and either publishes it, in one
atomic step that makes it the version every reader sees, or keeps it for its owner to inspect
(`keep`) until a later candidate is published or `discard` drops it.

A table keeps one refused candidate, the latest: every build writes its candidate on the published
version from all that its inputs changed since that version (the watermark of the published commit),
so the latest refused candidate holds whatever an earlier one held that is still in the inputs, in
their newer state; an earlier one would show only an older state of the same unpublished changes.
Each refusal stays on record in the domain's event log (version, run, failing checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pyarrow as pa

from pipelines.core.commits import Commit
from pipelines.core.names import TableId
from pipelines.ports.table_store import TableStore


@dataclass(frozen=True)
class Candidate:
    """A version of a table that is not (yet) its current one.

    Attributes:
        commit: the candidate's version (what `history()` shows once it is published) and the
            properties written with it.
        base: the current version the candidate was written on (None: the table had none); it is
            published only while that is still the current version.
        failing: the checks that refused it, once kept (`CandidateTables.keep`).
    """

    table: TableId
    commit: Commit
    base: int | None
    failing: tuple[str, ...] = ()


@runtime_checkable
class CandidateTables(Protocol):
    """Candidate versions of the tables of one store (Iceberg: staged snapshots; Delta: staged commits)."""

    def staging(self) -> TableStore:
        """The same tables, whose data commits make candidates instead of current versions.

        A write through it returns the candidate's commit; `history()`, `read()` without `as_of`,
        and every reader of the tables keep showing the current version. A staged write is a
        single commit on the current version (a table has one candidate per write).
        """
        ...

    def candidate(self, table: TableId, version: int) -> Candidate:
        """The candidate `version` written through `staging()`.

        Raises:
            LookupError: the table has no such candidate (published, discarded, or never written).
        """
        ...

    def read_candidate(self, table: TableId, version: int, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows of candidate `version` (or only `columns`), in the table's schema.

        Raises:
            LookupError: the table has no such candidate.
        """
        ...

    def publish(self, table: TableId, version: int) -> Commit:
        """Make candidate `version` the table's current version, in one atomic commit.

        The commit (and its properties, e.g. the upstream versions an incremental build read)
        joins `history()`. A candidate kept earlier (`kept`) is dropped in the same step.

        Raises:
            LookupError: the table has no such candidate.
            ConcurrentCommitError: the current version is no longer the candidate's base (another
                writer published first); nothing changes, the candidate must be written again.
        """
        ...

    def keep(self, table: TableId, version: int, failing: Sequence[str] = ()) -> None:
        """Keep candidate `version` and the checks that refused it for inspection (`kept`), in place of any
        kept before; readers still do not see it."""
        ...

    def kept(self, table: TableId) -> Candidate | None:
        """The candidate kept for inspection (a refused one), or None."""
        ...

    def discard(self, table: TableId) -> None:
        """Drop the kept candidate (maintenance, or a passing build): no error when there is none."""
        ...
