"""meshlake's log lines during an asset's step go to the run's logger, so they show in the Dagster UI."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import dagster as dg

from pipelines.logs import OURS, AssetRun, redact, running

Body = TypeVar("Body", bound=Callable[..., Any])


class _RunLogHandler(logging.Handler):
    """Hands each record to the run's logger (`context.log`) as its message, secrets masked.

    A table event's message holds its fields as `key=value` words (see `pipelines.logs.table_event`),
    which is how they show in the UI.
    """

    def __init__(self, run_log: logging.Logger) -> None:
        super().__init__()
        self._run_log = run_log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            self._run_log.log(record.levelno, redact(message))
        except Exception:
            self.handleError(record)


@contextmanager
def run_logs(run_log: logging.Logger) -> Iterator[None]:
    """While the step runs, meshlake's records from info up (debug too when asked) go to the run's logger
    (`context.log`).

    The levels of meshlake's loggers are lowered to info for the step if they were higher (a command
    line asking for warnings keeps them off its own stderr: its handler has its own level), and put
    back after.
    """
    handler = _RunLogHandler(run_log)
    loggers = [logging.getLogger(name) for name in OURS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def with_run_logs(body: Body) -> Body:
    """An asset body (context first) whose meshlake log lines go to the run's logger (`run_logs`), table
    events of the table stores naming the asset run (`pipelines.logs.running`).

    Dagster reads the body's parameters through the wrapper (`functools.wraps`).
    """

    @functools.wraps(body)
    def logged(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Any:
        key = context.asset_key
        run = AssetRun(key.path[0], key.to_user_string(), context.run.run_id)
        with run_logs(context.log), running(run):
            return body(context, *args, **kwargs)

    return logged  # type: ignore[return-value]
