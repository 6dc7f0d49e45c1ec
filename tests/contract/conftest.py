"""Fixtures of the TableStore behaviour suite: every implementation, each on its own tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.adapters.delta import DeltaTableStore
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.adapters.memory import MemoryTableStore
from pipelines.ports.table_store import TableStore

STORE_FACTORIES: dict[str, Callable[[Path], TableStore]] = {
    "iceberg": lambda root: IcebergTableStore(root / "warehouse"),
    "delta": lambda root: DeltaTableStore(root / "delta"),
    "memory": lambda root: MemoryTableStore(),
}


@pytest.fixture(params=sorted(STORE_FACTORIES))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], TableStore]:
    """Opens a new store object of one implementation over the same tmp_path directory."""
    factory = STORE_FACTORIES[request.param]
    return lambda: factory(tmp_path)


@pytest.fixture
def table_store(open_store: Callable[[], TableStore]) -> TableStore:
    """A fresh, empty store of one implementation."""
    return open_store()
