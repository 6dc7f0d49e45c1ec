"""The TableStore plug-ins by format name, each imported only when it is opened."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import cast

from pipelines.adapters.storage import Location, as_location
from pipelines.core.commits import TableFormat
from pipelines.ports.table_store import TableStore

# format → (module, class, the library it needs)
_IMPLEMENTATIONS: dict[TableFormat, tuple[str, str, str]] = {
    TableFormat.ICEBERG: ("pipelines.adapters.iceberg.table_store", "IcebergTableStore", "pyiceberg"),
    TableFormat.DELTA: ("pipelines.adapters.delta.table_store", "DeltaTableStore", "deltalake"),
    TableFormat.MEMORY: ("pipelines.adapters.memory.table_store", "MemoryTableStore", "pyarrow"),
}


def known_formats() -> list[str]:
    """The names `open_table_store` accepts."""
    return [f.value for f in _IMPLEMENTATIONS]


def _implementation(fmt: TableFormat) -> Callable[..., TableStore]:
    module_name, class_name, library = _IMPLEMENTATIONS[fmt]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == library:
            raise ImportError(
                f"the {fmt.value} table store needs {library!r}; install meshlake with its dependencies"
            ) from exc
        raise
    return cast("Callable[..., TableStore]", getattr(module, class_name))


def open_table_store(
    format: TableFormat | str,
    warehouse: Location | Path | str,
    *,
    catalog_uri: str | None = None,
    catalog_name: str | None = None,
) -> TableStore:
    """Open the table store of a format, importing its implementation only now.

    Args:
        format: `iceberg`, `delta` or `memory`.
        warehouse: a folder (`MESHLAKE_HOME` by default) or an object store location; Iceberg tables
            live in `<warehouse>/iceberg` (with the default SQLite catalog `<warehouse>/iceberg/catalog.db`
            on a folder), Delta tables in `<warehouse>/delta`. Unused by `memory`.
        catalog_uri: the Iceberg catalog's SQLAlchemy URI (required on an object store); ignored by the
            other formats.
        catalog_name: a pyiceberg catalog by name (`.pyiceberg.yaml`, `PYICEBERG_CATALOG__<NAME>__*`), used
            instead of the SQL catalog; its tables' files live under `<warehouse>/iceberg` as well.

    Returns:
        A new store; a `memory` store starts empty every time.

    Raises:
        ValueError: the format is unknown (the message lists the known ones).
        ImportError: the format's library is not installed.
    """
    try:
        fmt = TableFormat(format)
    except ValueError:
        raise ValueError(f"unknown table format {format!r}; known formats: {', '.join(known_formats())}") from None
    factory = _implementation(fmt)
    location = as_location(warehouse)
    if fmt is TableFormat.ICEBERG:
        if catalog_name:
            from pipelines.adapters.iceberg.catalog import load_named_catalog

            return factory(location / "iceberg", catalog=load_named_catalog(catalog_name))
        return factory(location / "iceberg", catalog_uri)
    if fmt is TableFormat.DELTA:
        return factory(location / "delta")
    return factory()
