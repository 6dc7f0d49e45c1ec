"""`meshlake engine start|stop`: a Sail Spark Connect server on 127.0.0.1 that outlives the command.

`start` records the server under `<home>/engine/sail.json` and prints the `MESHLAKE_SPARK_URL` that
points `engine: spark` at it; `stop` stops the recorded server. Its catalog `lake` is the catalog
service's Iceberg REST API (`catalog_url` + `/iceberg`) with `catalog_token`, when those are set.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)

RECORD = "sail.json"


@app.command("start")
def start(
    port: Annotated[int | None, typer.Option(help="The port to listen on; default: a free one.")] = None,
) -> None:
    """Start Sail on 127.0.0.1 in the background and print its Spark Connect URL."""
    from pipelines.adapters.spark.server import SailServer, catalog_environment
    from pipelines.adapters.storage.s3 import S3Backend
    from pipelines.bootstrap import storage_options
    from pipelines.cli import context
    from pipelines.cli.errors import CommandError

    settings = context.settings()
    folder = settings.home_dir / "engine"
    record = folder / RECORD
    if record.exists():
        running = json.loads(record.read_text())
        raise CommandError(f"Sail already runs at {running['url']} (pid {running['pid']}): meshlake engine stop")
    rest = f"{settings.catalog_url.rstrip('/')}/iceberg" if settings.catalog_url else None
    # every domain's builds run on it: the settings' own S3 key (as `AWS_*`, the only S3 settings Sail reads) and
    # catalog token, and no other secret of the settings
    environment = settings.engine_environment() | S3Backend(storage_options(settings)).environment()
    environment |= catalog_environment(rest, settings.token)
    server = SailServer(folder, environment, port=port).start()
    pid = server.detach()
    record.write_text(json.dumps({"pid": pid, "url": server.url, "log": str(server.log_file)}))
    typer.echo(f"Sail {server.url} (pid {pid}, started in {server.started_in_s:.2f} s, log {server.log_file})")
    typer.echo(f"export MESHLAKE_ENGINE=spark MESHLAKE_SPARK_URL={server.url}")


@app.command("stop")
def stop() -> None:
    """Stop the Sail server `meshlake engine start` started."""
    from pipelines.cli import context
    from pipelines.cli.errors import CommandError

    record = context.settings().home_dir / "engine" / RECORD
    if not record.exists():
        raise CommandError(f"no Sail server started by `meshlake engine start` under {record.parent}")
    running = json.loads(record.read_text())
    with contextlib.suppress(ProcessLookupError):  # it stopped already: forget it
        os.kill(int(running["pid"]), signal.SIGTERM)
    record.unlink()
    typer.echo(f"stopped Sail at {running['url']} (pid {running['pid']})")
