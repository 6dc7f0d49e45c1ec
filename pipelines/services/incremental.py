"""Watermarks of incremental builds: which upstream versions a table was built from, kept in its commits."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Protocol

from pipelines.core.commits import Commit
from pipelines.ports.candidates import CandidateTables
from pipelines.ports.incremental import IncrementalTables
from pipelines.ports.table_store import TableStore
from pipelines.services.tables import Tables

UPSTREAM_PROPERTY = "meshlake.upstream"
"""Commit property of silver and gold tables: `{"<upstream table>": <version processed>}` as JSON."""
MODE_PROPERTY = "meshlake.build_mode"
"""Commit property saying how a build read its inputs: `incremental` or `full`."""


class IncrementalRuntime(Tables, Protocol):
    """Stores by domain and layer, plus the incremental and candidate capabilities of each store."""

    def incremental(self, store: TableStore) -> IncrementalTables: ...

    def candidates(self, store: TableStore) -> CandidateTables: ...


def encode_upstream(upstream: dict[str, int]) -> str:
    """The JSON text of a watermark."""
    return json.dumps(upstream, sort_keys=True)


def last_upstream(history: Iterable[Commit]) -> dict[str, int]:
    """The watermark of the newest commit that recorded one; `{}` for a table never built.

    Maintenance commits repeat the watermark (see `carried_properties`), so it survives snapshot expiry.

    Raises:
        ValueError: the property is not a JSON object of integers.
    """
    for commit in reversed(list(history)):
        text = commit.properties.get(UPSTREAM_PROPERTY)
        if text is None:
            continue
        try:
            value = json.loads(text)
            return {str(k): int(v) for k, v in value.items()}
        except (ValueError, AttributeError, TypeError) as exc:
            raise ValueError(f"commit {commit.version}: {UPSTREAM_PROPERTY} is malformed: {text[:80]!r}") from exc
    return {}
