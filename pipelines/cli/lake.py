"""What a command that only reads checks first: that the home holds tables at all, so that it never
creates a home, a table catalog or a catalog database by opening them."""

from __future__ import annotations

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
