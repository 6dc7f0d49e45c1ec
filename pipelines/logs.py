"""Structured logs: what happened to a table (commit, retry, conflict, quarantine, publish, refusal) with its fields,
the text and JSON line formats, and secrets kept out of every line.

Records go through the standard `logging` module: the command line formats them on stderr (`configure`),
a Dagster step hands them to the run's logger (`pipelines.dagster.run_logs`). A table event carries its
fields twice: as `key=value` words in the message, which every handler shows (the Dagster UI too), and
as the record's `meshlake` attribute, which the JSON format writes as keys of its own.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

OURS = ("pipelines", "catalog", "domains")
"""The loggers `--log-level` sets: meshlake's, the catalog's and the project's domains'."""
FIELDS = "meshlake"
"""The log record attribute holding a table event's fields."""
MASK = "********"
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):(?P<password>[^@/\s]+)@")
_secrets: set[str] = set()
_format = "text"
"""The log format `configure` was given last."""


def hide(secrets: Iterable[str]) -> None:
    """Mask these values wherever they would appear in a log line from now on (`Settings.secrets()`)."""
    _secrets.update(s for s in secrets if s)


def redact(text: str) -> str:
    """`text` with the passwords of URLs and every hidden value masked."""
    text = _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


@dataclass(frozen=True)
class AssetRun:
    """The run of an asset a table event belongs to: the domain, the asset key as the Dagster UI writes
    it (`orders/silver/orders`) and the run's id."""

    domain: str
    asset: str
    run_id: str


_running: list[AssetRun] = []
"""The asset run of this process, while one runs (`running`): a process-wide value rather than a context
variable, because a step's work also runs in worker threads (silver writes its tables side by side)."""


@contextmanager
def running(run: AssetRun) -> Iterator[None]:
    """While `run` runs, table events that do not know their run (those of the table stores) are its."""
    _running.append(run)
    try:
        yield
    finally:
        _running.remove(run)


def table_event(
    logger: logging.Logger,
    kind: str,
    run: AssetRun | None,
    table: object,
    version: int | None,
    level: int = logging.INFO,
    **details: Any,
) -> None:
    """Log one thing that happened to a table, with the fields people filter on.

    Args:
        logger: the module's logger.
        kind: `commit`, `retry`, `conflict`, `quarantine`, `publish` or `refusal` (a candidate held back).
        run: the asset run; None: the one running now (`running`), if any.
        table: the table (`orders.silver_orders`).
        version: the table version the event is about (committed, published, or the rival's on a conflict).
        level: the log level.
        details: more fields (rows, attempt, rival runs, reasons, ...).
    """
    run = run or (_running[-1] if _running else None)
    fields: dict[str, Any] = {
        "event": kind,
        **({"domain": run.domain, "asset": run.asset, "run_id": run.run_id} if run else {}),
        "table": str(table),
        "version": version,
        **details,
    }
    words = " ".join(f"{k}={v}" for k, v in fields.items() if k not in ("event", "table", "version"))
    logger.log(level, "%s %s version %s: %s", kind, table, version, words, extra={FIELDS: fields})


def _jsonable(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


class TextFormatter(logging.Formatter):
    """`LEVEL logger: message`, secrets masked (the traceback too)."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, a table event's fields (else the running asset
    run's domain, asset and run id), the traceback; secrets masked in every value."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, dict):
            line |= {k: v for k, v in fields.items() if k not in line}
        elif _running:  # any other line while an asset runs says which run
            run = _running[-1]
            line |= {"domain": run.domain, "asset": run.asset, "run_id": run.run_id}
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(_jsonable(line), default=str)


def say(
    message: str,
    level: int = logging.INFO,
    logger: str = "pipelines.cli",
    fmt: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """Write a line a command says to its user on `stream` (stderr), whatever the log level: an error, a warning,
    or what it did or where it listens.

    In the `text` format the line is the message, after `error:` or `warning:` for those levels; in `json` it is
    a JSON log line of `logger` at `level`, so that whoever reads stderr (a log collector) reads JSON only.
    Secrets are masked either way.

    Args:
        message: what to say, plain text.
        level: `logging.ERROR`, `logging.WARNING`, or less for a line that is neither.
        logger: the logger the JSON line names (the module saying it).
        fmt: `text` or `json`; default: `current_format()`.
        stream: where the line goes (default: stderr as it is now).
    """
    out = stream or sys.stderr
    if (fmt or current_format()) == "json":
        line = JsonFormatter().format(logging.LogRecord(logger, level, __file__, 0, message, None, None))
        print(line, file=out, flush=True)
        return
    if level < logging.WARNING:  # as it is, without importing rich (meshlake dev's supervisor stays small)
        print(redact(message), file=out, flush=True)
        return
    from rich.console import Console
    from rich.markup import escape

    label = "[bold red]error:[/]" if level >= logging.ERROR else "[yellow]warning:[/]"
    Console(file=out, soft_wrap=True, highlight=False).print(f"{label} {escape(redact(message))}")


def current_format() -> str:
    """The log format `configure` was given last (`text` before it)."""
    return _format


_HANDLER_NAME = "meshlake"
_SERVER_LOGGERS = ("uvicorn", "uvicorn.access")  # uvicorn.error writes through uvicorn


def server_log_config(fmt: str) -> dict[str, Any]:
    """Uvicorn's logging configuration (its `log_config`): its startup and access lines from info up, written
    like meshlake's (`text` or `json`, secrets masked) on stderr."""
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"meshlake": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "meshlake", "stream": "ext://sys.stderr"}
        },
        "loggers": {name: {"handlers": ["stderr"], "level": "INFO", "propagate": False} for name in _SERVER_LOGGERS},
    }


def configure(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Log meshlake's records from `level` up, and other libraries' warnings and errors, on `stream` (stderr).

    Calling it again replaces the handler it installed before.

    Args:
        level: `debug`, `info`, `warning` or `error`.
        fmt: `text` or `json`.
        stream: where lines go (default: stderr as it is when a line is written).
    """
    global _format
    number = logging.getLevelNamesMapping()[level.upper()]
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.name == _HANDLER_NAME]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.name = _HANDLER_NAME
    handler.setLevel(number)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(max(number, logging.WARNING))
    logging.captureWarnings(True)  # Python warnings of libraries too: log lines like the others, in the format
    _format = fmt
    for name in OURS:
        logging.getLogger(name).setLevel(number)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to `sys.stderr` as it is at each line (tests and rich replace it while a command runs)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)
