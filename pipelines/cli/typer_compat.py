"""Every use of Typer's private API in the command line, in one place (tests/unit/test_typer_compat.py pins each).

Typer is used through its public API everywhere else. Each use here says why it is needed and which public API
would replace it; an upgrade that changes one fails that test by name.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

# Typer vendors click as `typer._click` and exports none of its classes: these name the types of the commands
# and contexts its groups hold, and of their parameters. Public replacement: none (Typer exports no click types).
from typer._click import Command, Context, Parameter

# The parameter class of every Typer argument and option: `process_value` below wraps its own.
from typer.core import _TyperParameter

__all__ = ["Command", "Context", "Parameter", "import_help_renderer", "leave_unset_values_uncoerced"]

_coerce_and_process = _TyperParameter.process_value


def _process_value(self: _TyperParameter, ctx: Context, value: Any) -> Any:
    """Typer's `process_value`, except that an unset value (None) stays None without Typer's coercion."""
    if value is None and self.nargs == 1 and not (self.multiple or self.required):
        return value if self.callback is None else self.callback(ctx, self, value)
    return _coerce_and_process(self, ctx, value)


def leave_unset_values_uncoerced() -> None:
    """Let Typer keep an argument or option that was not given as None without importing pydantic.

    Typer asks a parameter for its pydantic `TypeAdapter` before coercing any value, even None, which it
    coerces to None (`typer.core._TyperParameter.process_value`). `meshlake query --help` processes the
    unset `--log-level`, `--project` and `--help` of `meshlake` first: their adapters imported pydantic, a third
    of its start. Public replacement: none; drop this when Typer builds an adapter only to coerce a value.
    """
    _TyperParameter.process_value = _process_value  # type: ignore[method-assign]


UNUSED_BY_HELP = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}
"""The rich classes `typer.rich_utils` imports but meshlake's help never uses, by module."""


class _ImportedOnUse(type):
    """The type of a stand-in for a rich class: calling it or reading its attributes imports the real class."""

    def _real(cls) -> Any:
        return getattr(importlib.import_module(cls.__module__), cls.__name__)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._real(), name)


def _stand_in(module: str, name: str) -> ModuleType:
    stand_in = ModuleType(module)
    setattr(stand_in, name, _ImportedOnUse(name, (), {"__module__": module}))
    return stand_in


def import_help_renderer() -> None:
    """Import Typer's rich help renderer, `typer.rich_utils`, without the rich modules meshlake's help never uses.

    It imports `rich.markdown` (and markdown-it-py; used only in markup mode "markdown") and `rich.traceback`
    (and pygments; used only for pretty exceptions) at its top: a fifth of the start of a help page. meshlake
    uses markup mode "rich" and no pretty exceptions, so stand-ins take those two classes' place in
    `typer.rich_utils` while it is imported, and import the real class when one is used after all. Public
    replacement: none; drop this when Typer imports them where it uses them.
    """
    if "typer.rich_utils" in sys.modules:
        return
    stand_ins = {
        module: _stand_in(module, name) for module, name in UNUSED_BY_HELP.items() if module not in sys.modules
    }
    sys.modules.update(stand_ins)
    try:
        importlib.import_module("typer.rich_utils")
    finally:
        for module in stand_ins:
            del sys.modules[module]
