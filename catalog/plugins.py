"""Endpoints other packages plug into the catalog service, found by entry point name (dlt-style plug-ins).

The catalog imports nothing of the pipelines: a package that wants its endpoints served beside the
catalog's registers a factory of a FastAPI `APIRouter` under the entry-point group
`meshlake.catalog.routers` (meshlake's own query endpoint does so in pyproject.toml).
"""

from __future__ import annotations

from importlib.metadata import entry_points

from fastapi import APIRouter

GROUP = "meshlake.catalog.routers"


def plugged_routers() -> list[APIRouter]:
    """Every router registered under `meshlake.catalog.routers`, sorted by entry-point name."""
    return [ep.load()() for ep in sorted(entry_points(group=GROUP), key=lambda ep: ep.name)]
