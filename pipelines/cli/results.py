"""A query's answer as the command line gives it: a rich table on the terminal, or CSV, JSON or Parquet."""

from __future__ import annotations

import csv
import io
import json
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from pipelines.cli.query_cmd import OutputFormat


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


def print_table(table: pa.Table, limit: int, console: Console) -> None:
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
