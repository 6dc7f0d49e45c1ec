"""DuckDB extensions loaded offline from their PyPI wheels (`duckdb-extension-<name>`), never downloaded."""

from __future__ import annotations

import importlib
import threading
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

_verified: set[tuple[str, int, int]] = set()
"""Extension files (path, size, modification time) whose signature DuckDB checked in this process."""
_verifying = threading.Lock()


def verified_once_config() -> dict[str, str | bool]:
    """`OFFLINE_CONFIG` for a connection that loads extensions through `load_extension` only, with which DuckDB
    checks each extension file's signature once per process rather than at every connection's load (hashing
    the file: ~80 ms of CPU for httpfs's 22 MB, a fifth of a 1M-row query on S3).

    Until a file was checked in this process, the connection checks as it loads; after that it skips the
    check and `load_extension` has a file checked first in a connection of its own. Lock such a connection
    (`enable_external_access = false`) before it runs SQL it did not write: then nothing more can be loaded.
    """
    return {**OFFLINE_CONFIG, "allow_unsigned_extensions": bool(_verified)}


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

    On a connection that allows unsigned extensions (`verified_once_config`), each file is loaded once
    DuckDB has checked its signature in this process; on any other, DuckDB checks it as it loads.

    Raises:
        ExtensionUnavailableError: a wheel is missing.
        duckdb.IOException: a file's signature is not DuckDB's.
    """
    paths = [extension_path(needed) for needed in (*_DEPENDENCIES.get(name, ()), name)]
    checks = not con.sql("SELECT current_setting('allow_unsigned_extensions')").fetchall()[0][0]
    if not checks:
        _verify_once(paths)
    for path in paths:
        key = _key(path)  # the file as it is before DuckDB reads it
        con.execute(f"LOAD '{_sql_string(str(path))}'")
        if checks:
            _verified.add(key)


def _key(path: Path) -> tuple[str, int, int]:
    """An extension file as it is now: a new file in its place has another size or modification time."""
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def _verify_once(paths: list[Path]) -> None:
    """Have DuckDB check the signatures of extension files (in load order) it did not check in this process."""
    if all(_key(path) in _verified for path in paths):
        return
    with _verifying, duckdb.connect(":memory:", config=dict(OFFLINE_CONFIG)) as checking:
        for path in paths:
            key = _key(path)
            checking.execute(f"LOAD '{_sql_string(str(path))}'")  # raises on a bad signature
            _verified.add(key)


def _sql_string(text: str) -> str:
    return text.replace("'", "''")
