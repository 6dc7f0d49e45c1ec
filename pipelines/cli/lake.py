"""What a command that only reads checks first: that the home holds tables at all, so that it never
creates a home, a table catalog or a catalog database by opening them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.cli.errors import CommandError

if TYPE_CHECKING:
    from pipelines.settings import Settings


def holds_tables(settings: Settings) -> bool:
    """Whether the home may hold tables: the embedded Iceberg catalog or a Delta table exists there
    (a warehouse or an Iceberg catalog elsewhere may hold some too: not looked into)."""
    if settings.iceberg_catalog_uri or settings.iceberg_catalog or settings.warehouse:
        return True
    if (settings.iceberg_dir / "catalog.db").is_file():
        return True
    return settings.delta_dir.is_dir() and any(settings.delta_dir.glob("*/*/_delta_log"))


def nothing_yet(settings: Settings) -> str:
    """The line a read command prints on a home without tables."""
    return (
        f"no table yet under MESHLAKE_HOME={settings.home_dir}: "
        "run meshlake generate and meshlake materialize (or meshlake demo)"
    )


def require_tables(settings: Settings) -> None:
    """Refuse to read a home that holds no table.

    Raises:
        CommandError: the home holds none (exit 1).
    """
    if not holds_tables(settings):
        raise CommandError(nothing_yet(settings))


def missing_sqlite(url: str) -> Path | None:
    """The SQLite file of a database URL when opening it would create it (it does not exist yet), else None."""
    if not url.startswith("sqlite:///"):
        return None
    path = Path(url.removeprefix("sqlite:///"))
    return None if not path.name or path.name == ":memory:" or path.exists() else path


def no_catalog_yet(path: Path | str) -> str:
    """The line a read command prints when the catalog database does not exist yet."""
    return f"no catalog yet: {path} does not exist (meshlake materialize registers the products)"


def require_catalog(settings: Settings) -> None:
    """Refuse to read grants from an embedded catalog database that does not exist (opening it would
    create an empty one that grants nothing).

    Raises:
        CommandError: there is no catalog database yet (exit 1).
    """
    if settings.catalog_url is None and (missing := missing_sqlite(settings.catalog_db_url)):
        raise CommandError(no_catalog_yet(missing))
