"""Which table formats a home's tables were written in, so that a run asking for others is refused.

A home written with `MESHLAKE_FORMAT=iceberg` holds every table in Iceberg; a run with `MESHLAKE_FORMAT=delta`
(or unset, each domain's own formats) would look for the same tables in Delta, find none, write new ones
and register their locations in the catalog, so that the catalog and `meshlake query` disagree about
what a product holds. A new home records its layout in `<home>/table-format` when its first table store
is opened; a home that already holds tables without the file (written before it existed) is not judged, nor
is a warehouse set elsewhere (a folder or `s3://`: the production profile keeps no file under the home).
"""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.core.commits import TableFormat

MARKER = "table-format"
PER_DOMAIN = "per-domain"
"""The layout of a home run without `MESHLAKE_FORMAT`: each domain's (and product's) own formats."""


class HomeFormatError(Exception):
    """The home holds tables of a layout other than the one this run asks for."""


def _describe(layout: str) -> str:
    if layout == PER_DOMAIN:
        return "each domain's own formats (MESHLAKE_FORMAT unset)"
    return f"{layout} only (MESHLAKE_FORMAT={layout})"


def _holds_tables(home: Path) -> bool:
    return any((home / "iceberg").glob("*/*/metadata")) or any((home / "delta").glob("*/*/_delta_log"))


def check_home_format(home: Path, override: TableFormat | None) -> None:
    """Record the home's layout on first use, and refuse a run whose layout differs.

    Args:
        home: `MESHLAKE_HOME`.
        override: `MESHLAKE_FORMAT`; None runs each domain's own formats. The `memory` format keeps
            nothing in the home and is never refused.

    Raises:
        HomeFormatError: the home's tables were written with another layout; the message names the home
            and both layouts.
    """
    if override is TableFormat.MEMORY:
        return
    wanted = override.value if override is not None else PER_DOMAIN
    marker = home / MARKER
    if not marker.is_file():
        if not _holds_tables(home):
            home.mkdir(parents=True, exist_ok=True)
            partial = home / f".{MARKER}.{os.getpid()}"
            partial.write_text(wanted + "\n")
            partial.replace(marker)  # whole or absent: a run starting meanwhile never reads half of it
        return
    recorded = marker.read_text().strip()
    if recorded != wanted:
        raise HomeFormatError(
            f"MESHLAKE_HOME={home} holds tables in {_describe(recorded)}; this run asks for {_describe(wanted)}. "
            "Mixing them would make the catalog and queries disagree: use another MESHLAKE_HOME, or run "
            + ("without MESHLAKE_FORMAT" if recorded == PER_DOMAIN else f"with MESHLAKE_FORMAT={recorded}")
        )
