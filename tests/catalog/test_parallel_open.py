"""Many processes opening a new catalog database at once (parallel Dagster steps) all succeed."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from catalog.service import CatalogService


def _open_and_read(url: str) -> int:
    service = CatalogService.open(url)
    try:
        return len(service.list_tokens())
    finally:
        service.close()


def test_eight_processes_open_a_fresh_catalog_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog' / 'catalog.db'}"
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        # map() would wait forever for the task of a worker that died (a Pool starts a new worker, not the task)
        assert pool.map_async(_open_and_read, [url] * 8).get(timeout=180) == [0] * 8
