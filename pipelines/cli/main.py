"""The `meshlake` command line: generate events, run the demo, query products, start the dev UI."""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli import context, errors


class LogLevel(StrEnum):
    """The levels `--log-level` takes."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)


@app.callback()
def meshlake(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show debug logs, and the traceback of an error.")
    ] = False,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            "--log-level",
            help="The least level of log lines (default: MESHLAKE_LOG_LEVEL, else warning); info shows each commit, "
            "retry, conflict, quarantine and publish. MESHLAKE_LOG_FORMAT=json writes JSON lines.",
            case_sensitive=False,
        ),
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            metavar="DIR",
            help="The project folder; default: MESHLAKE_PROJECT, else found walking up from the working directory.",
        ),
    ] = None,
) -> None:
    """The `meshlake` command line: generate events, run the demo, query products, start the dev UI."""
    context.use_flags(project, "debug" if verbose and log_level is None else log_level and log_level.value)
    if not _help_only:  # a help page logs nothing: loading the settings for it doubled its start time
        context.configure_logs()
    if verbose:
        errors.show_tracebacks()


def _register() -> None:
    """Mount every command; their modules import only typer and rich, so `--help` stays instant."""
    from catalog import cli as catalog_cli
    from pipelines.cli import (
        candidates_cmd,
        config_cmd,
        demo_cmd,
        domain_cmd,
        engine_cmd,
        events_cmd,
        init_cmd,
        products_cmd,
        publish_cmd,
        quarantine_cmd,
        query_cmd,
        run_cmds,
        schemas_cmd,
    )

    app.command("init")(init_cmd.init)
    app.command("generate")(run_cmds.generate)
    app.command("publish")(publish_cmd.publish)
    app.command("materialize")(run_cmds.materialize)
    app.command("demo")(demo_cmd.demo)
    app.command("query")(query_cmd.query)
    app.command("products")(products_cmd.products)
    app.command("candidates")(candidates_cmd.candidates)
    app.command("events")(events_cmd.events)
    app.command("dev")(run_cmds.dev)
    app.command("config")(config_cmd.config)
    app.add_typer(
        catalog_cli.app, name="catalog", help="The catalog of data products: list, search, grants, tokens, serve."
    )
    app.add_typer(domain_cmd.app, name="domain", help="The project's domains: add one, list them, validate them.")
    app.add_typer(engine_cmd.app, name="engine", help="The Spark Connect engine: start or stop a local Sail server.")
    app.add_typer(schemas_cmd.app, name="schemas", help="Check .proto changes against a git ref or folder.")
    app.add_typer(quarantine_cmd.app, name="quarantine", help="List quarantined events; replay them after a fix.")


_register()


_help_only = False


def main(args: list[str] | None = None) -> None:
    """Entry point: usage errors exit 2, input and data errors 1 with one line, Ctrl-C 130."""
    global _help_only
    _help_only = "--help" in (sys.argv[1:] if args is None else args)
    try:
        code = app(args=args, prog_name="meshlake", standalone_mode=False)
    except KeyboardInterrupt:  # outside a command (typer turns one inside into exit code 130)
        code = 130
    except Exception as exc:
        code = errors.report(exc)
    except BaseException as exc:  # typer.Abort and friends, raised outside of click's handling
        if not isinstance(exc, (typer.Abort, typer.Exit)):
            raise
        code = getattr(exc, "exit_code", 1)
    logging.shutdown()
    sys.exit(code if isinstance(code, int) else 0)
