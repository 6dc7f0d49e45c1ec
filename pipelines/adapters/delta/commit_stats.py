"""What a Delta commit did (rows, files, bytes), as `Commit.stats`: from delta-rs's operation metrics, or our own.

delta-rs records `operationMetrics` for its own operations (write, delete, merge) but none for a
transaction of prepared add/remove actions (`create_write_transaction`, how meshlake's streamed
appends and keyed rewrites commit). Those commits carry the counts of their actions under
`STATS_KEY` in the commit info instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from deltalake import CommitProperties
from deltalake.transaction import AddAction, RemoveAction

STATS_KEY = "meshlakeFileStats"
"""The commit-info entry holding the counts of a transaction's actions (not a `meshlake.` property)."""

_METRICS = {
    "rows_added": ("num_added_rows", "num_target_rows_inserted", "num_output_rows"),
    "rows_updated": ("num_target_rows_updated",),
    "rows_deleted": ("num_deleted_rows", "num_target_rows_deleted", "num_removed_rows"),
    "files_added": ("num_added_files", "num_target_files_added"),
    "files_removed": ("num_removed_files", "num_target_files_removed"),
    "bytes_added": ("num_added_bytes",),
}


def with_action_stats(properties: CommitProperties, actions: Sequence[AddAction | RemoveAction]) -> CommitProperties:
    """`properties` plus the counts of `actions`: files added and removed, rows and bytes added."""
    adds = [a for a in actions if isinstance(a, AddAction)]
    stats = {
        "num_added_files": len(adds),
        "num_removed_files": len(actions) - len(adds),
        "num_added_rows": sum(int(json.loads(a.stats).get("numRecords", 0)) for a in adds if a.stats),
        "num_added_bytes": sum(a.size for a in adds),
    }
    return CommitProperties(
        custom_metadata={**(properties.custom_metadata or {}), STATS_KEY: json.dumps(stats)},
        max_commit_retries=properties.max_commit_retries,
        app_transactions=properties.app_transactions,
    )


def commit_stats(entry: Mapping[str, Any]) -> dict[str, int]:
    """The `Commit.stats` of a commit-info entry of the Delta log."""
    metrics = entry.get("operationMetrics")
    if not isinstance(metrics, Mapping):
        own = entry.get(STATS_KEY)
        metrics = json.loads(own) if isinstance(own, str) else {}
    found: dict[str, int] = {}
    for name, keys in _METRICS.items():
        present = [int(metrics[key]) for key in keys if isinstance(metrics.get(key), int | float)]
        if present:
            found[name] = sum(present)
    return found
