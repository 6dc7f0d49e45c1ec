"""Endpoints and page panels other packages plug into the catalog service, found by entry point (dlt-style).

The catalog imports nothing of the pipelines: a package that wants its endpoints served beside the
catalog's registers a factory of a FastAPI `APIRouter` under the entry-point group
`meshlake.catalog.routers` (meshlake's own query endpoint does so in pyproject.toml); one that adds a
section to each product page registers a factory of a `ProductPanel` under `meshlake.catalog.panels`
(meshlake's history charts from the event log).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from fastapi import APIRouter

GROUP = "meshlake.catalog.routers"
PANELS = "meshlake.catalog.panels"

ProductPanel = Callable[[str], str]
"""A section of a product page: the product's name → trusted HTML (the panel escapes what it shows)."""


def plugged_routers() -> list[APIRouter]:
    """Every router registered under `meshlake.catalog.routers`, sorted by entry-point name."""
    return [ep.load()() for ep in sorted(entry_points(group=GROUP), key=lambda ep: ep.name)]


def plugged_panels() -> list[ProductPanel]:
    """Every product-page panel registered under `meshlake.catalog.panels`, sorted by entry-point name."""
    return [ep.load()() for ep in sorted(entry_points(group=PANELS), key=lambda ep: ep.name)]
