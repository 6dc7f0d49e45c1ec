"""`meshlake query`: read-only SQL over data products with DuckDB, printed or written as table/CSV/JSON/Parquet."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, BinaryIO

import click
import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from pipelines.ports.query_engine import AsOf

console = Console()
errors = Console(stderr=True)


class CommandError(click.ClickException):
    """A user-facing failure: printed as one `error:` line on stderr, exit code 1."""

    def show(self, file: object = None) -> None:
        errors.print(f"[bold red]error:[/] {self.message}", highlight=False, soft_wrap=True)


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


def _json_rows(table: pa.Table) -> str:
    return json.dumps(table.to_pylist(), default=str, indent=1, ensure_ascii=False) + "\n"


def write_result(table: pa.Table, fmt: OutputFormat, out: BinaryIO) -> None:
    """Write the answer as CSV, JSON (a list of row objects) or Parquet."""
    if fmt is OutputFormat.CSV:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(table.column_names)
        for batch in table.to_batches():
            writer.writerows(("" if v is None else v for v in row.values()) for row in batch.to_pylist())
        text.flush()
        text.detach()
    elif fmt is OutputFormat.JSON:
        out.write(_json_rows(table).encode())
    elif fmt is OutputFormat.PARQUET:
        pq.write_table(table, out)


def print_table(table: pa.Table, limit: int, console: Console = console) -> None:
    """Print at most `limit` rows as a rich table; says how many were left out."""
    view = Table()
    for name in table.column_names:
        type_ = table.schema.field(name).type
        numeric = pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)
        view.add_column(name, justify="right" if numeric else "left")
    for row in table.slice(0, limit).to_pylist():
        view.add_row(*("∅" if v is None else str(v) for v in row.values()))
    console.print(view)
    if table.num_rows > limit:
        console.print(f"[dim]… {table.num_rows - limit} more row(s); use --limit or --format csv/json/parquet[/]")


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
        typer.Option(envvar="MESHLAKE_PRINCIPAL", help="Query as this domain or reader: only its granted products."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most rows printed as a table.")] = 1000,
    timeout: Annotated[float | None, typer.Option(min=0.1, help="Stop the query after this many seconds.")] = None,
    read_path: Annotated[
        str | None, typer.Option(help="auto (default), arrow, parquet or native.", hidden=True)
    ] = None,
) -> None:
    """Run read-only SQL on the data products you may read (DuckDB) and print or write the answer."""
    from pipelines.adapters.duckdb.engine import READ_PATHS
    from pipelines.ports.query_engine import QueryError
    from pipelines.ports.registry import RegistryError
    from pipelines.serving import Serving

    output = OutputFormat(output)
    if output is OutputFormat.PARQUET and output_file is None:
        raise CommandError("--format parquet is binary: give --output FILE")
    path = next((p for p in READ_PATHS if p == read_path), None)
    if read_path is not None and path is None:
        raise CommandError(f"--read-path must be one of {', '.join(READ_PATHS)}")
    when: AsOf | Mapping[str, AsOf] | None = parse_as_of_options(as_of or [])
    serving = Serving.from_env()
    try:
        result = serving.engine(principal, as_of=when, read_path=path).execute(sql, timeout_s=timeout)
    except (QueryError, RegistryError) as exc:
        raise CommandError(str(exc)) from None
    table = result.table
    if output is OutputFormat.TABLE:
        if output_file is None:
            print_table(table, limit)
            return
        with output_file.open("w", encoding="utf-8") as text:
            print_table(table, limit, console=Console(file=text, width=200))
    elif output_file is None:
        write_result(table, output, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    else:
        with output_file.open("wb") as out:
            write_result(table, output, out)
    errors.print(f"{table.num_rows} row(s) written to {output_file}")
