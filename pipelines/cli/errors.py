"""How the command line reports a failure: usage errors exit 2 with click's message and a hint, input and
data errors exit 1 with one `error:` line, anything else is a bug and shows its traceback.

`--verbose` turns on debug logs of meshlake and the catalog; the traceback of an error is one of them.
"""

from __future__ import annotations

import logging
import os

import typer

_log = logging.getLogger("pipelines.cli")


class CommandError(Exception):
    """A user-facing failure of a command: printed as one `error:` line on stderr, exit code 1."""


def show_tracebacks() -> None:
    """Let errors of Rust libraries carry their backtrace again (see `pipelines`: off unless verbose).

    The traceback of an error is one of the debug log lines `--verbose` turns on.
    """
    os.environ["RUST_LIB_BACKTRACE"] = "1"


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input, data or configuration: shown as one line, exit code 1.

    Imported here, when an error is reported, so that starting the command line stays cheap.
    """
    from catalog.errors import CatalogError
    from pipelines.adapters.home_format import HomeFormatError
    from pipelines.adapters.iceberg.catalog import NamedCatalogError
    from pipelines.adapters.nats import NatsUnavailableError, PublishError
    from pipelines.adapters.nats.server import NatsServerNotFoundError
    from pipelines.adapters.protobuf.compiler import SchemaError
    from pipelines.adapters.seaweedfs.server import SeaweedStartError, WeedNotFoundError
    from pipelines.adapters.spark.server import SailStartError
    from pipelines.adapters.storage import StorageError
    from pipelines.cli.dev import DevError
    from pipelines.cli.materialize import MaterializeError
    from pipelines.core.event_option_rules import EventOptionsError
    from pipelines.core.extras import MissingExtraError
    from pipelines.core.framing import FramingError
    from pipelines.core.proto_schema import ProtoSchemaError
    from pipelines.ports.engine import EngineError
    from pipelines.ports.query_engine import QueryError
    from pipelines.ports.registry import RegistryError
    from pipelines.ports.table_evolution import SchemaEvolutionError
    from pipelines.project import SpecError
    from pipelines.services.build import InputNotAllowedError
    from pipelines.services.contracts import ReferenceNotAllowedError
    from pipelines.services.evolution import SchemaChangeRefusedError
    from pipelines.services.ingest import UnframedInputError
    from pipelines.settings import SettingsError

    return (
        CommandError,
        CatalogError,
        SettingsError,
        HomeFormatError,
        DevError,
        NamedCatalogError,
        SpecError,
        SchemaError,
        ProtoSchemaError,
        EventOptionsError,
        UnframedInputError,
        FramingError,
        InputNotAllowedError,
        MaterializeError,
        MissingExtraError,
        NatsUnavailableError,
        NatsServerNotFoundError,
        WeedNotFoundError,
        SeaweedStartError,
        PublishError,
        SchemaChangeRefusedError,
        SchemaEvolutionError,
        ReferenceNotAllowedError,
        RegistryError,
        QueryError,
        StorageError,
        EngineError,
        SailStartError,
    )


def print_error(message: str) -> None:
    """One `error:` line on stderr, never wrapped or highlighted (a JSON log line with the log format json);
    secrets masked like in log lines."""
    from pipelines.logs import say

    say(message, logging.ERROR, _log.name)


def _usage_error(exc: typer.TyperException) -> None:
    """Click's usage message and hint; with the log format json one error line of them instead."""
    from pipelines import logs

    if logs.current_format() == "json":
        ctx = getattr(exc, "ctx", None)
        hint = f" (try '{ctx.command_path} --help')" if ctx is not None else ""
        logs.say(f"{exc.format_message()}{hint}", logging.ERROR, _log.name)
    elif callable(show := getattr(exc, "show", None)):
        show()
    else:
        typer.echo(f"Error: {exc.format_message()}", err=True)


def report(exc: Exception) -> int:
    """Print `exc` as a user sees it and return the exit code; re-raise it when it is a bug.

    Raises:
        Exception: `exc` itself, when it is not a usage, input or data error.
    """
    from pipelines.cli import context

    context.ensure_logs()
    if isinstance(exc, typer.TyperException):  # click's usage errors (typer vendors click)
        _usage_error(exc)
        return exc.exit_code
    if isinstance(exc, typer.Abort):
        print_error("aborted")
        return 1
    if isinstance(exc, _user_errors()):
        _log.debug("the error below comes from here", exc_info=exc)
        print_error(str(exc))
        return 1
    raise exc
