"""The `meshlake` subcommands by name, each imported and built only when it runs or a help page shows it."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup

from pipelines.cli.typer_compat import Command, Context, Parameter

COMMANDS: dict[str, str] = {
    "init": "pipelines.cli.init_cmd:init",
    "generate": "pipelines.cli.run_cmds:generate",
    "publish": "pipelines.cli.publish_cmd:publish",
    "materialize": "pipelines.cli.run_cmds:materialize",
    "demo": "pipelines.cli.demo_cmd:demo",
    "query": "pipelines.cli.query_cmd:query",
    "products": "pipelines.cli.products_cmd:products",
    "candidates": "pipelines.cli.candidates_cmd:candidates",
    "events": "pipelines.cli.events_cmd:events",
    "dev": "pipelines.cli.run_cmds:dev",
    "config": "pipelines.cli.config_cmd:config",
    "catalog": "catalog.cli:app",
    "domain": "pipelines.cli.domain_cmd:app",
    "engine": "pipelines.cli.engine_cmd:app",
    "schemas": "pipelines.cli.schemas_cmd:app",
    "quarantine": "pipelines.cli.quarantine_cmd:app",
}
"""Each command's function, or Typer app of subcommands, as `module:attribute`, in the order `--help` lists them."""

GROUP_HELP: dict[str, str] = {
    "catalog": "The catalog of data products: list, search, grants, tokens, serve.",
    "domain": "The project's domains: add one, list them, validate them.",
    "engine": "The Spark Connect engine: start or stop a local Sail server.",
    "schemas": "Check .proto changes against a git ref or folder.",
    "quarantine": "List quarantined events; replay them after a fix.",
}
"""The help of the commands that are Typer apps, as `meshlake --help` lists them (a command's is its docstring)."""


def build(name: str, target: str) -> Command:
    """The click command `name` of `meshlake`, built by Typer from `target` (`module:attribute`) as a subcommand."""
    module, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    parent = typer.Typer()
    parent.callback()(_parent)  # a parent with a callback is a group, even with one command
    if isinstance(found, typer.Typer):
        parent.add_typer(found, name=name, help=GROUP_HELP[name])
    else:
        parent.command(name)(found)
    group = typer.main.get_command(parent)
    assert isinstance(group, TyperGroup)
    command = group.commands[name]
    from pipelines.cli.main import log_level_option  # built when a command is: main imports this module

    _take_log_level(command, log_level_option())
    return command


def _take_log_level(command: Command, option: Parameter) -> None:
    """Let `command`, and each command of a group, take `--log-level` after its name too."""
    subcommands = getattr(command, "commands", None)
    for each in subcommands.values() if isinstance(subcommands, dict) else ():
        _take_log_level(each, option)
    if subcommands is None:
        command.params.append(option)


def _parent() -> None:
    """The callback of the parent `build` makes a command in, and throws away."""


class LazyCommands(MutableMapping[str, Command]):
    """Commands by name, each built from its `module:attribute` the first time it is looked up."""

    def __init__(self, targets: Mapping[str, str]) -> None:
        self._entries: dict[str, Command | str] = dict(targets)

    def __getitem__(self, name: str) -> Command:
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = self._entries[name] = build(name, entry)
        return entry

    def __setitem__(self, name: str, command: Command) -> None:
        self._entries[name] = command

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


class MeshlakeGroup(TyperGroup):
    """The `meshlake` group: its subcommands are imported when one runs or a help page lists them."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        registered = self.commands  # any added to `app` itself
        self.commands = LazyCommands(COMMANDS)
        self.commands.update(registered)

    def list_commands(self, ctx: Context) -> list[str]:
        """The names of the subcommands, without building them."""
        return list(self.commands)
