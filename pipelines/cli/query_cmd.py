"""`meshlake query`: read-only SQL over data products with DuckDB, printed or written as table/CSV/JSON/Parquet."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from pipelines.cli.errors import CommandError

if TYPE_CHECKING:
    from pipelines.ports.query_engine import AsOf


class OutputFormat(StrEnum):
    """How `meshlake query` prints its answer."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"


def parse_as_of_options(values: list[str]) -> AsOf | dict[str, AsOf] | None:
    """`--as-of` values: one version or time for every product, or `<domain>.<product>=<version or time>`.

    Raises:
        CommandError: a value is neither, or both forms are mixed.
    """
    from pipelines.serving.scans import parse_as_of

    everything: list[AsOf] = []
    per_product: dict[str, AsOf] = {}
    try:
        for value in values:
            name, eq, when = value.partition("=")
            if eq and "." in name and not name[:1].isdigit():
                per_product[name.strip()] = parse_as_of(when)
            else:
                everything.append(parse_as_of(value))
    except ValueError as exc:
        raise CommandError(f"--as-of: {exc}") from None
    if len(everything) > 1 or (everything and per_product):
        raise CommandError("--as-of: give one version or time, or <domain>.<product>=<version> per product")
    return per_product or (everything[0] if everything else None)


def query(
    sql: Annotated[
        str, typer.Argument(help="SQL over views <domain>.<product>, e.g. SELECT * FROM orders.daily_revenue")
    ],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
    output_file: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (needed for parquet).", dir_okay=False)
    ] = None,
    as_of: Annotated[
        list[str] | None,
        typer.Option(
            "--as-of",
            help="Time travel: a version or an ISO-8601 time for every product, or <domain>.<product>=<version>"
            " (repeatable).",
        ),
    ] = None,
    principal: Annotated[
        str | None,
        typer.Option(
            help="Query as this domain or reader: only its granted products (default: the setting principal)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most rows printed as a table.")] = 1000,
    timeout: Annotated[float | None, typer.Option(min=0.1, help="Stop the query after this many seconds.")] = None,
    read_path: Annotated[
        str | None, typer.Option(help="auto (default), arrow, parquet or native.", hidden=True)
    ] = None,
) -> None:
    """Run read-only SQL on the data products you may read (DuckDB) and print or write the answer."""
    from pipelines.adapters.duckdb.engine import READ_PATHS
    from pipelines.cli import context
    from pipelines.cli.lake import require_catalog, require_tables
    from pipelines.cli.results import print_table, write_result
    from pipelines.logs import say
    from pipelines.serving import Serving

    output = OutputFormat(output)
    if output is OutputFormat.PARQUET and output_file is None:
        raise CommandError("--format parquet is binary: give --output FILE")
    path = next((p for p in READ_PATHS if p == read_path), None)
    if read_path is not None and path is None:
        raise CommandError(f"--read-path must be one of {', '.join(READ_PATHS)}")
    when: AsOf | Mapping[str, AsOf] | None = parse_as_of_options(as_of or [])
    settings = context.settings()
    require_tables(settings)
    principal = principal or settings.principal
    if principal:
        require_catalog(settings)
    serving = Serving(context.runtime())
    table = serving.engine(principal, as_of=when, read_path=path).execute(sql, timeout_s=timeout).table
    if output is OutputFormat.TABLE:
        if output_file is None:
            print_table(table, limit, Console())
            return
        with output_file.open("w", encoding="utf-8") as text:
            print_table(table, limit, Console(file=text, width=200))
    elif output_file is None:
        write_result(table, output, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    else:
        with output_file.open("wb") as out:
            write_result(table, output, out)
    say(f"{table.num_rows} row(s) written to {output_file}")
