"""`meshlake demo`: generate events, materialise every asset with Dagster, answer gold queries (one across domains)."""

from __future__ import annotations

import os
import time

import typer
from rich.console import Console
from rich.panel import Panel

from pipelines.cli.local_storage import Storage

console = Console()

DEMO_SQL = (
    "SELECT day, country, currency, revenue, orders, customers FROM orders.daily_revenue "
    "ORDER BY day DESC, revenue DESC LIMIT 10"
)
MESH_SQL = (
    "SELECT d.carrier, o.currency, count(*) AS parcels, sum(o.total) AS order_value, "
    "round(avg(d.transit_hours), 1) AS transit_h, sum(d.failed_attempts) AS failed "
    "FROM shipping.deliveries d JOIN orders.order_facts o USING (order_id) "
    "GROUP BY ALL ORDER BY order_value DESC LIMIT 8"
)
"""A question no single domain answers: the value of the orders each carrier delivers, and how well."""


def demo(
    events: int = typer.Option(100_000, "--events", "-n", min=1, help="Events per domain."),
    seed: int = typer.Option(7, help="Random seed of the generated events."),
    storage: Storage = typer.Option(
        Storage.LOCAL, help="Where tables and landing files live: the home folder, or s3:// on a SeaweedFS under it."
    ),
) -> None:
    """Generate events, materialise every domain end to end, and query gold with DuckDB, across domains too."""
    from pipelines.cli import context

    if storage is Storage.LOCAL:
        _demo(events, seed, storage)
        return
    from pipelines.cli.local_storage import local_object_store
    from pipelines.project import domain_names

    settings = context.settings()
    with local_object_store(settings.home_dir, domain_names(settings.domains_dir), settings.weed) as store:
        console.print(f"[dim]SeaweedFS at {store.server.endpoint}, data in {store.server.data_dir}[/]")
        # This process is the top of the run: the settings it and the in-process Dagster runs load see these.
        os.environ.update(store.variables())
        _demo(events, seed, storage)


def _demo(events: int, seed: int, storage: Storage) -> None:
    from pipelines.cli import context
    from pipelines.cli.materialize import materialize_all
    from pipelines.cli.query_cmd import OutputFormat, query
    from pipelines.cli.run_cmds import Compression, generate

    settings = context.settings()
    started = time.perf_counter()
    console.rule("1. generate events into the landing area")
    generate(domain=[], count=events, seed=seed, files=4, compression=Compression.NONE)
    console.rule("2. materialise bronze → silver → gold with Dagster")
    materialize_all("*", console)
    console.rule("3. query gold with DuckDB")
    console.print(f'[dim]meshlake query "{DEMO_SQL}"[/]')
    query(sql=DEMO_SQL, output=OutputFormat.TABLE, limit=10)
    console.rule("4. query across domains: shipping's parcels joined with orders' order facts")
    console.print(f'[dim]meshlake query "{MESH_SQL}"[/]')
    query(sql=MESH_SQL, output=OutputFormat.TABLE, limit=8)
    console.print(
        Panel.fit(
            f"Done in {time.perf_counter() - started:.0f} s. Home: {settings.home_dir}\n"
            f"  landing files   {settings.landing_uri}\n"
            f"  iceberg tables  {settings.warehouse_uri}/iceberg (SQLite catalog: <home>/iceberg/catalog.db)\n"
            f"  delta tables    {settings.warehouse_uri}/delta\n"
            "Try next:\n" + _next_steps(storage),
            title="meshlake demo",
        )
    )


def _next_steps(storage: Storage) -> str:
    """What to run after the demo; on S3 its SeaweedFS has stopped, and `make dev STORAGE=s3` starts it again."""
    if storage is Storage.S3:
        return (
            "  make dev STORAGE=s3   # the Dagster UI on http://127.0.0.1:3000, SeaweedFS again on the data kept\n"
            "  MESHLAKE_FORMAT=delta make demo STORAGE=s3   # the same pipelines on Delta Lake"
        )
    return (
        '  .venv/bin/meshlake query "SELECT country, sum(revenue) FROM orders.daily_revenue GROUP BY 1"\n'
        "  make dev            # the Dagster UI with schedules and sensors on http://127.0.0.1:3000\n"
        "  MESHLAKE_FORMAT=delta make demo   # the same pipelines on Delta Lake"
    )
