"""A Delta table's staged commit: the actions of its next commit, written beside the log rather than into it.

Delta readers (delta-rs, DuckDB's `delta_scan`, Spark) read only `_delta_log/`; a staged commit is
kept in `_meshlake/staged_commit.json` under the table root (a folder every Delta reader and
`VACUUM` skip, as its name starts with `_`). Its data files are written where a commit's go;
publishing commits its actions with delta-rs on the version it was staged on (see
`DeltaCandidates`). A table has at most one staged commit per file (`STAGED_FILE`, `KEPT_FILE`): staging
another in the same file replaces it (and removes the files only the replaced one added).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deltalake.transaction import AddAction, RemoveAction

from pipelines.adapters.storage import Location
from pipelines.core.commits import Commit

STAGED_FILE = "_meshlake/staged_commit.json"
"""Where, under the table root, the staged commit of the latest write is kept."""
KEPT_FILE = "_meshlake/kept_commit.json"
"""Where, under the table root, a refused candidate is kept once audited: apart from `STAGED_FILE`, so that a
later build staging its own (and dying before its audit) leaves the refused one inspectable."""


@dataclass(frozen=True)
class StagedCommit:
    """The actions and properties of a commit staged on log version `base`; `failing` once kept after an audit."""

    base: int
    commit: Commit
    actions: tuple[AddAction | RemoveAction, ...]
    failing: tuple[str, ...] | None = None

    @property
    def added(self) -> list[AddAction]:
        return [a for a in self.actions if isinstance(a, AddAction)]

    @property
    def removed(self) -> set[str]:
        return {a.path for a in self.actions if isinstance(a, RemoveAction)}


def _action(action: AddAction | RemoveAction) -> dict[str, object]:
    if isinstance(action, AddAction):
        return {"add": [action.path, action.size, dict(action.partition_values), action.modification_time,
                        action.data_change, action.stats]}  # fmt: skip
    return {"remove": [action.path, action.data_change, action.deletion_timestamp, action.size,
                       dict(action.partition_values or {})]}  # fmt: skip


def _parsed(entry: dict[str, list[Any]]) -> AddAction | RemoveAction:
    if "add" in entry:
        return AddAction(*entry["add"])
    path, data_change, deletion_timestamp, size, partition_values = entry["remove"]
    return RemoveAction(path, data_change, deletion_timestamp, size, partition_values)


def stage(root: Location, staged: StagedCommit, slot: str = STAGED_FILE) -> None:
    """Keep `staged` as the table's staged commit in `slot`, removing the data files a replaced one added."""
    previous = read_staged(root, slot)
    body = {
        "base": staged.base,
        "version": staged.commit.version,
        "sequence": staged.commit.sequence,
        "timestamp_ms": staged.commit.timestamp_ms,
        "properties": dict(staged.commit.properties),
        "actions": [_action(a) for a in staged.actions],
        "failing": None if staged.failing is None else list(staged.failing),
    }
    with root.open_output(root.child_uri(slot)) as sink:
        sink.write(json.dumps(body).encode())
    if previous is not None:
        _remove_files(root, previous, keep=[a.path for a in staged.added])


def read_staged(root: Location, slot: str = STAGED_FILE) -> StagedCommit | None:
    """The table's staged commit in `slot`, or None."""
    if not root.exists(slot):
        return None
    body = json.loads(root.read_bytes(slot))
    commit = Commit(body["version"], body["sequence"], body["timestamp_ms"], body["properties"])
    failing = body["failing"]
    actions = tuple(_parsed(entry) for entry in body["actions"])
    return StagedCommit(body["base"], commit, actions, None if failing is None else tuple(failing))


def unstage(root: Location, published: bool, slot: str = STAGED_FILE) -> None:
    """Forget the staged commit in `slot`; unless it was `published` (or moved to another slot), also remove
    the data files it added."""
    staged = read_staged(root, slot)
    if staged is None:
        return
    root.delete_files([root.child_uri(slot)])
    if not published:
        _remove_files(root, staged)


def _remove_files(root: Location, staged: StagedCommit, keep: Sequence[str] = ()) -> None:
    root.delete_files([root.child_uri(a.path) for a in staged.added if a.path not in set(keep)])
