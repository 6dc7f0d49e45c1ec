"""DuckDB extensions loaded offline from their PyPI wheels (`duckdb-extension-<name>`), never downloaded."""

from __future__ import annotations

import importlib
from pathlib import Path

import duckdb

from pipelines.core.extras import EXTRAS, require

# Load order matters: iceberg needs avro already loaded, or it tries to install it.
_DEPENDENCIES: dict[str, tuple[str, ...]] = {"iceberg": ("avro",), "delta": (), "avro": (), "httpfs": ()}

# Settings that keep DuckDB from fetching or loading anything by itself.
OFFLINE_CONFIG: dict[str, str | bool] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}


class ExtensionUnavailableError(RuntimeError):
    """The extension's wheel is not installed for this DuckDB version."""


def extension_path(name: str) -> Path:
    """The `.duckdb_extension` file the wheel `duckdb-extension-<name>` ships for this DuckDB version.

    The wheels hold `duckdb_extension_<name>/extensions/v<duckdb version>/<name>.duckdb_extension`
    and nothing else (their `__init__` is empty), so the path is found from the package's location.

    Raises:
        MissingExtraError: the wheel comes with an extra of meshlake (httpfs: `s3`) that is not installed.
        ExtensionUnavailableError: the wheel is missing or built for another DuckDB version.
    """
    package = f"duckdb_extension_{name}"
    if package in EXTRAS:
        require(package)
    try:
        module = importlib.import_module(package)
    except ModuleNotFoundError:
        raise ExtensionUnavailableError(
            f"DuckDB extension {name!r} is not installed: pip install duckdb-extension-{name}=={duckdb.__version__}"
        ) from None
    assert module.__file__ is not None
    path = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise ExtensionUnavailableError(
            f"duckdb-extension-{name} has no build for DuckDB {duckdb.__version__} (looked for {path})"
        )
    return path


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load `name` (and what it needs) into the connection's database from the wheels, offline.

    Raises:
        ExtensionUnavailableError: a wheel is missing.
    """
    for needed in (*_DEPENDENCIES.get(name, ()), name):
        path = extension_path(needed)
        con.execute(f"LOAD '{_sql_string(str(path))}'")


def _sql_string(text: str) -> str:
    return text.replace("'", "''")
