"""`meshlake products`: the data products you can query, with version, freshness and size."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ms is not None else ""


def products(
    principal: Annotated[
        str | None,
        typer.Option(
            help="List what this domain or reader may query (catalog grants; default: the setting principal)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the data products you can query with `meshlake query` (views <domain>.<product>)."""
    from pipelines.cli import context
    from pipelines.cli.lake import holds_tables, require_catalog
    from pipelines.serving import Serving

    settings = context.settings()
    principal = principal or settings.principal
    if principal:
        require_catalog(settings)
    found = Serving(context.runtime()).products(principal) if holds_tables(settings) else []
    if as_json:
        typer.echo(json.dumps([asdict(p) for p in found], indent=1))
        return
    if not found:
        if principal:
            console.print(f"principal {principal!r} may read no materialised product (see meshlake catalog list)")
        else:
            console.print("no data product is materialised yet: run meshlake materialize (or meshlake demo)")
        return
    table = Table()
    for column in ("product", "format", "version", "updated (UTC)", "rows", "owner", "description"):
        wrap = column in ("owner", "description")
        table.add_column(column, justify="right" if column in ("version", "rows") else "left", no_wrap=not wrap)
    for p in found:
        rows = "" if p.rows is None else f"{p.rows:,}"
        table.add_row(p.name, p.format, str(p.version or ""), _when(p.updated_ms), rows, p.owner, p.description)
    console.print(table)
