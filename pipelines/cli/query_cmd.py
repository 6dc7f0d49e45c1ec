"""`meshlake query`: SQL over data products with DuckDB."""

from __future__ import annotations

import csv
import json
import sys

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from pipelines.core.names import Layer

console = Console()


def query(
    sql: str = typer.Argument(..., help="SQL over views <domain>.<product>, e.g. SELECT * FROM orders.daily_revenue"),
    output: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
    limit: int = typer.Option(1000, help="Most rows printed as a table."),
) -> None:
    """Run SQL on gold data products with DuckDB and print the answer."""
    from pipelines.adapters.duckdb.engine import connect_products
    from pipelines.bootstrap import Runtime

    runtime = Runtime.from_env()
    products = [
        (d.product_table(p), runtime.store_for(d.name, Layer.GOLD, p))
        for d in runtime.domains.values()
        for p in d.spec.products
    ]
    con = connect_products(products)
    try:
        relation = con.sql(sql)
    except duckdb.Error as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if relation is None:
        return
    if output == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(relation.columns)
        writer.writerows(relation.fetchall())
    elif output == "json":
        rows = [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
        sys.stdout.write(json.dumps(rows, default=str, indent=1) + "\n")
    elif output == "table":
        print_relation(relation, limit)
    else:
        raise typer.BadParameter("must be table, csv or json", param_hint="--format")


def print_relation(relation: duckdb.DuckDBPyRelation, limit: int = 1000) -> None:
    """Print a DuckDB relation as a rich table (at most `limit` rows)."""
    table = Table()
    for column in relation.columns:
        table.add_column(column)
    for row in relation.fetchmany(limit):
        table.add_row(*("∅" if v is None else str(v) for v in row))
    console.print(table)
