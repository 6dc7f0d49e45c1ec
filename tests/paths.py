"""Paths the tests read: the repository (whose root is also the sample project) and the platform tests' own mesh."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLATFORM_PROTOS = REPO / "pipelines" / "proto"
MESH = REPO / "tests" / "projects" / "mesh"
"""The platform tests' project: three related domains, kept apart from the sample so that a team changing the
sample domains breaks no platform test."""
LINEAGE = REPO / "tests" / "projects" / "lineage"
"""The logging and lineage tests' project: one small domain whose product declares its column lineage."""
ACCOUNTS = REPO / "tests" / "projects" / "accounts"
"""The silver engine tests' project: one entity two event types build, with a sequence, a transform and a history."""
