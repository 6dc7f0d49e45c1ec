"""The `meshlake` command line: generate events, run the demo, query products, start the dev UI."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from catalog import cli as catalog_cli
from pipelines.cli import demo_cmd, products_cmd, publish_cmd, quarantine_cmd, query_cmd, run_cmds, schemas_cmd

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.command("generate")(run_cmds.generate)
app.command("publish")(publish_cmd.publish)
app.command("materialize")(run_cmds.materialize)
app.command("demo")(demo_cmd.demo)
app.command("query")(query_cmd.query)
app.command("products")(products_cmd.products)
app.command("dev")(run_cmds.dev)
app.add_typer(
    catalog_cli.app, name="catalog", help="The catalog of data products: list, search, grants, tokens, serve."
)
app.add_typer(schemas_cmd.app, name="schemas", help="Check .proto changes against a git ref or folder.")
app.add_typer(quarantine_cmd.app, name="quarantine", help="List quarantined events; replay them after a fix.")

_console = Console(stderr=True)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input or configuration: shown as one line, exit code 1."""
    from pipelines.adapters.nats import NatsUnavailableError, PublishError
    from pipelines.adapters.protobuf.compiler import SchemaError
    from pipelines.cli.materialize import MaterializeError
    from pipelines.core.framing import FramingError
    from pipelines.core.proto_schema import ProtoSchemaError
    from pipelines.ports.registry import RegistryError
    from pipelines.ports.table_evolution import SchemaEvolutionError
    from pipelines.project import SpecError
    from pipelines.services.build import InputNotAllowedError
    from pipelines.services.contracts import ReferenceNotAllowedError
    from pipelines.services.evolution import SchemaChangeRefusedError
    from pipelines.services.ingest import UnframedInputError
    from pipelines.settings import SettingsError

    return (
        SettingsError,
        SpecError,
        SchemaError,
        ProtoSchemaError,
        UnframedInputError,
        FramingError,
        InputNotAllowedError,
        MaterializeError,
        NatsUnavailableError,
        PublishError,
        SchemaChangeRefusedError,
        SchemaEvolutionError,
        ReferenceNotAllowedError,
        RegistryError,
    )


def main() -> None:
    """Entry point: run the app, turning known errors into one clear line."""
    try:
        code = app(standalone_mode=False)  # a command's typer.Exit(n) comes back as n
    except (typer.Abort, KeyboardInterrupt):
        _console.print("aborted")
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, _user_errors()):
            _console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            sys.exit(1)
        raise
    sys.exit(code if isinstance(code, int) else 0)
