"""Paths of this repository the tests read: its root is also the sample project (`domains/`, `schemas/`)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLATFORM_PROTOS = REPO / "pipelines" / "proto"
