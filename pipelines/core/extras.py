"""Optional dependencies: which extra of the meshlake distribution brings each one, and a clear error without it.

The base install runs the embedded default (local files, SQLite catalogs, DuckDB, Dagster, the catalog
service). NATS and PostgreSQL need an extra; code that uses one calls `require` before importing it, the
way pyiceberg names the extra to install when an optional library is missing.
"""

from __future__ import annotations

import importlib.util

EXTRAS: dict[str, tuple[str, str]] = {
    "nats": ("nats-py", "nats"),
    "psycopg": ("psycopg", "postgres"),
    "psycopg2": ("psycopg2-binary", "postgres"),
    "dagster_postgres": ("dagster-postgres", "postgres"),
    "duckdb_extension_httpfs": ("duckdb-extension-httpfs", "s3"),
    "pysail": ("pysail", "sail"),
    "pyspark": ("pyspark-client", "sail"),
}
"""Importable module -> (distribution that provides it, meshlake extra that installs it)."""


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(module: str) -> None:
    """Check that an optional module can be imported.

    Args:
        module: a key of `EXTRAS`, e.g. `nats`.

    Raises:
        MissingExtraError: it is not installed; the message says `pip install 'meshlake[<extra>]'`.
    """
    if importlib.util.find_spec(module) is None:
        distribution, extra = EXTRAS[module]
        raise MissingExtraError(
            f"{distribution} is not installed; it comes with meshlake's {extra} extra: pip install 'meshlake[{extra}]'",
            name=module,
        )


def require_sql_driver(url: str) -> None:
    """Check that the database driver a SQLAlchemy URL names is installed (SQLite always is).

    Args:
        url: e.g. `sqlite:///catalog.db`, `postgresql+psycopg://…`, `postgresql://…` (psycopg2).

    Raises:
        MissingExtraError: the PostgreSQL driver is missing.
    """
    scheme = url.split(":", 1)[0].lower()
    dialect, _, driver = scheme.partition("+")
    if dialect in ("postgresql", "postgres") and driver in ("", "psycopg2", "psycopg"):
        require(driver or "psycopg2")
