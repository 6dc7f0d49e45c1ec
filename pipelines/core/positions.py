"""Source positions consumed by bronze commits: the ledger behind exactly-once ingestion.

A position range names a source (a landing file, a stream) and a half-open range `[start, end)` of
byte offsets or sequence numbers. Each bronze commit stores the ranges it consumed in its commit
properties; the ledger folds them back so an ingestor knows where to resume.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

POSITIONS_PROPERTY = "meshlake.positions"


@dataclass(frozen=True, order=True)
class PositionRange:
    """A consumed half-open range `[start, end)` of one source."""

    source: str
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"position range of {self.source!r} is invalid: [{self.start}, {self.end})")


def encode_positions(ranges: Iterable[PositionRange]) -> str:
    """Serialise ranges for a commit property (compact JSON, stable order)."""
    return json.dumps([[r.source, r.start, r.end] for r in sorted(ranges)], separators=(",", ":"))


def decode_positions(text: str) -> list[PositionRange]:
    """Parse what `encode_positions` wrote.

    Raises:
        ValueError: the property is not a JSON list of `[source, start, end]`.
    """
    try:
        items = json.loads(text)
        return [PositionRange(str(s), int(a), int(b)) for s, a, b in items]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"commit property {POSITIONS_PROPERTY} is malformed: {text[:80]!r}") from exc


def merge_ranges(ranges: Iterable[PositionRange]) -> list[PositionRange]:
    """The same positions in as few ranges as possible: overlapping or touching ranges of a source joined."""
    merged: list[PositionRange] = []
    for r in sorted(ranges):
        last = merged[-1] if merged else None
        if last is not None and last.source == r.source and r.start <= last.end:
            merged[-1] = PositionRange(r.source, last.start, max(last.end, r.end))
        else:
            merged.append(r)
    return merged


class Ledger:
    """The furthest consumed position of each source, folded from commit properties."""

    def __init__(self) -> None:
        self._ends: dict[str, int] = {}

    @classmethod
    def from_commits(cls, properties: Iterable[Mapping[str, str]]) -> Ledger:
        """Fold the `meshlake.positions` property of every commit."""
        ledger = cls()
        for props in properties:
            text = props.get(POSITIONS_PROPERTY)
            if text:
                ledger.record(decode_positions(text))
        return ledger

    def record(self, ranges: Iterable[PositionRange]) -> None:
        for r in ranges:
            self._ends[r.source] = max(self._ends.get(r.source, 0), r.end)

    def consumed_until(self, source: str) -> int:
        """Where reading `source` resumes: 0 when nothing of it was consumed."""
        return self._ends.get(source, 0)

    def sources(self) -> dict[str, int]:
        return dict(self._ends)


def committed_positions(properties: Iterable[Mapping[str, str]]) -> list[PositionRange]:
    """Every range the `meshlake.positions` property of the commits names."""
    return [r for props in properties if (text := props.get(POSITIONS_PROPERTY)) for r in decode_positions(text)]


def overlap(ranges: Iterable[PositionRange], others: Iterable[PositionRange]) -> bool:
    """Whether a position of `ranges` is also one of `others` (same source, intersecting ranges)."""
    by_source: dict[str, list[PositionRange]] = {}
    for r in others:
        by_source.setdefault(r.source, []).append(r)
    return any(o.start < r.end and r.start < o.end for r in ranges for o in by_source.get(r.source, ()))
