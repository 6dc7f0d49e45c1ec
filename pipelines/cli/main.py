"""The `meshlake` command line: generate events, run the demo, query products, start the dev UI."""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli import context, errors, typer_compat
from pipelines.cli.commands import MeshlakeGroup
from pipelines.cli.typer_compat import Parameter


class LogLevel(StrEnum):
    """The levels `--log-level` takes."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


LOG_LEVEL_HELP = (
    "The least level of log lines (default: MESHLAKE_LOG_LEVEL, else warning); info shows each commit, retry, "
    "conflict, quarantine and publish. MESHLAKE_LOG_FORMAT=json writes JSON lines."
)
typer_compat.leave_unset_values_uncoerced()
app = typer.Typer(
    cls=MeshlakeGroup, no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False
)


@app.callback()
def meshlake(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show debug logs, and the traceback of an error.")
    ] = False,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            "--log-level",
            help=LOG_LEVEL_HELP,
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


_help_only = False


def _use_level(value: LogLevel | None) -> None:
    if value is not None:
        context.use_log_level(value.value)


def _holds_log_level(
    log_level: Annotated[
        LogLevel | None, typer.Option("--log-level", help=LOG_LEVEL_HELP, case_sensitive=False, callback=_use_level)
    ] = None,
) -> None:
    """A command Typer makes `--log-level` of a subcommand from."""


def log_level_option() -> Parameter:
    """`--log-level` as an option of a subcommand too: `meshlake query --log-level info ...`."""
    holder = typer.Typer(add_completion=False)
    holder.command()(_holds_log_level)
    (option,) = typer.main.get_command(holder).params
    option.expose_value = False  # the command's function does not take it
    return option


def main(args: list[str] | None = None) -> None:
    """Entry point: usage errors exit 2, input and data errors 1 with one line, Ctrl-C 130."""
    global _help_only
    _help_only = "--help" in (sys.argv[1:] if args is None else args)
    if _help_only:
        typer_compat.import_help_renderer()
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
