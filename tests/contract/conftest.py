"""Fixtures of the TableStore behaviour suite: every implementation, each on its own tmp_path or S3 prefix.

`iceberg-s3` and `delta-s3` are the same stores with their files on SeaweedFS (the Iceberg catalog
stays a local SQLite file): one suite proves the storages agree. `iceberg-rest` is the Iceberg store
on pyiceberg's `RestCatalog`, talking to the catalog service's Iceberg REST API (over the SQL catalog
`iceberg` would open) with an admin token: the pipelines' commits through the REST catalog behave alike.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pyiceberg.catalog.rest import RestCatalog

from pipelines.adapters.delta import DeltaTableStore
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.adapters.memory import MemoryTableStore
from pipelines.adapters.storage import open_location
from pipelines.ports.table_store import TableStore

STORE_FACTORIES: dict[str, Callable[[pytest.FixtureRequest, Path], TableStore]] = {
    "iceberg": lambda request, root: IcebergTableStore(root / "warehouse"),
    "delta": lambda request, root: DeltaTableStore(root / "delta"),
    "memory": lambda request, root: MemoryTableStore(),
    "iceberg-s3": lambda request, root: IcebergTableStore(
        open_location(f"{request.getfixturevalue('s3_prefix')}/warehouse", request.getfixturevalue("s3_options")),
        f"sqlite:///{root / 'catalog.db'}",
    ),
    "delta-s3": lambda request, root: DeltaTableStore(
        open_location(f"{request.getfixturevalue('s3_prefix')}/delta", request.getfixturevalue("s3_options"))
    ),
    "iceberg-rest": lambda request, root: IcebergTableStore(
        root / "warehouse", catalog=RestCatalog("meshlake", **request.getfixturevalue("iceberg_rest"))
    ),
}


@pytest.fixture
def iceberg_rest(tmp_path: Path, serve_iceberg_rest: Callable[[Path], dict[str, str]]) -> dict[str, str]:
    """RestCatalog's properties for the catalog service serving the SQL catalog under tmp_path/warehouse."""
    return serve_iceberg_rest(tmp_path / "warehouse")


@pytest.fixture(params=sorted(STORE_FACTORIES))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], TableStore]:
    """Opens a new store object of one implementation over the same tmp_path directory (or S3 prefix)."""
    factory = STORE_FACTORIES[request.param]
    return lambda: factory(request, tmp_path)


@pytest.fixture
def stored_files(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], list[str]]:
    """Lists the files the store of `open_store` keeps, as paths relative to its root (tmp_path or S3 prefix)."""
    name = request.node.callspec.params.get("open_store", "")
    if not name.endswith("-s3"):
        return lambda: sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    root = open_location(request.getfixturevalue("s3_prefix"), request.getfixturevalue("s3_options"))
    return lambda: [f.uri.removeprefix(root.uri + "/") for f in root.list_files()]


@pytest.fixture
def put_file(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str, bytes], None]:
    """Writes a file below the root of the store of `open_store` (tmp_path or S3 prefix), as a crashed writer would."""
    name = request.node.callspec.params.get("open_store", "")
    if not name.endswith("-s3"):

        def write(relative: str, data: bytes) -> None:
            (tmp_path / relative).write_bytes(data)

        return write
    root = open_location(request.getfixturevalue("s3_prefix"), request.getfixturevalue("s3_options"))
    return root.write_bytes


@pytest.fixture
def table_store(open_store: Callable[[], TableStore]) -> TableStore:
    """A fresh, empty store of one implementation."""
    return open_store()
