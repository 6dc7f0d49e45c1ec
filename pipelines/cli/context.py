"""The settings of this command-line run: the global `--project` flag, then `Settings.load()`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.bootstrap import Runtime
    from pipelines.settings import Settings

_project: list[Path] = []


def use_project(path: Path | None) -> None:
    """Remember the `--project` flag (the main callback calls this before any command runs)."""
    _project[:] = [path] if path is not None else []


def settings() -> Settings:
    """The settings of this run: project file < `MESHLAKE_*` < `--project`.

    Raises:
        SettingsError: the project or a setting is invalid.
    """
    from pipelines.settings import Settings

    return Settings.load(project=_project[0] if _project else None)


def runtime(contracts: bool = False, needed: Sequence[str] = ()) -> Runtime:
    """A runtime on this run's settings; domains that fail to load are reported on stderr and left out.

    Args:
        contracts: also leave out the domains whose event contracts cannot be built (their .proto), for
            commands that encode or decode events.
        needed: domains the command was asked for by name: one that failed to load is an error.

    Raises:
        SpecError: a needed domain failed to load (its first problem, one line).
    """
    from rich.console import Console

    from pipelines.bootstrap import Runtime
    from pipelines.project import SpecError

    built = Runtime(settings())
    if contracts:
        built.drop_unusable()
    if failed := [p for p in built.problems if p.domain in needed]:
        raise SpecError(str(failed[0]))
    for problem in built.problems:
        Console(stderr=True).print(f"[yellow]warning:[/] domain left out: {problem}", highlight=False, soft_wrap=True)
    return built
