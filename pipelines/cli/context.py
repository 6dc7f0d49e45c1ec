"""The settings of this command-line run: the global `--project` and `--log-level` flags, then `Settings.load()`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.bootstrap import Runtime
    from pipelines.settings import Settings

_flags: dict[str, Any] = {}
_logs_configured = False


def use_flags(project: Path | None, log_level: str | None) -> None:
    """Remember the global flags (the main callback calls this before any command runs)."""
    _flags.clear()
    _flags.update(project=project, log_level=log_level)


def use_log_level(log_level: str) -> None:
    """A command's own `--log-level` (after its name): it replaces the global flag's, and logs use it from now."""
    _flags["log_level"] = log_level
    configure_logs()


def settings() -> Settings:
    """The settings of this run: project file < `MESHLAKE_*` < `--project`, `--log-level`.

    Their secrets are kept out of log lines from now on.

    Raises:
        SettingsError: the project or a setting is invalid.
    """
    from pipelines import logs
    from pipelines.settings import Settings

    loaded = Settings.load(project=_flags.get("project"), log_level=_flags.get("log_level"))
    logs.hide(loaded.secrets())
    return loaded


def configure_logs() -> None:
    """Log on stderr at this run's `log_level`, in its `log_format`.

    Settings that do not load leave the flag's level (or warnings) in text: the command that needs
    them reports why.
    """
    global _logs_configured
    from pipelines import logs
    from pipelines.settings import SettingsError

    _logs_configured = True
    try:
        loaded = settings()
    except SettingsError:
        logs.configure(_flags.get("log_level") or "warning", "text")
        return
    logs.configure(loaded.log_level, loaded.log_format)


def ensure_logs() -> None:
    """`configure_logs`, unless it ran: for an error found before the main callback (a global option's value, a
    command's name), so that it too is written in the log format."""
    if not _logs_configured:
        configure_logs()


def runtime(contracts: bool = False, needed: Sequence[str] = ()) -> Runtime:
    """A runtime on this run's settings; domains that fail to load are reported on stderr and left out.

    Args:
        contracts: also leave out the domains whose event contracts cannot be built (their .proto), for
            commands that encode or decode events.
        needed: domains the command was asked for by name: one that failed to load is an error.

    Raises:
        SpecError: a needed domain failed to load (its first problem, one line).
    """
    import logging

    from pipelines.bootstrap import Runtime
    from pipelines.logs import say
    from pipelines.project import SpecError

    built = Runtime(settings())
    if contracts:
        built.drop_unusable()
    if failed := [p for p in built.problems if p.domain in needed]:
        raise SpecError(str(failed[0]))
    for problem in built.problems:
        say(f"domain left out: {problem}", logging.WARNING)
    return built
