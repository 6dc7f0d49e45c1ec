"""Pins the Typer behaviour `pipelines.cli.typer_compat` relies on: a Typer upgrade that changes it fails here."""

from __future__ import annotations

import subprocess
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from typer.core import _TyperParameter
from typer.testing import CliRunner

from pipelines.cli import typer_compat


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


seen: list[object] = []


def _remember(value: object) -> object:
    seen.append(value)
    return value


app = typer.Typer()


@app.command()
def paint(
    name: Annotated[str, typer.Option(help="Required.")],
    colour: Annotated[Colour | None, typer.Option(case_sensitive=False, callback=_remember)] = None,
    where: Path | None = None,
    count: Annotated[int | None, typer.Option(min=1)] = None,
) -> None:
    typer.echo(repr((name, colour, where, count)))


def _run(*args: str) -> tuple[int, str]:
    typer_compat.leave_unset_values_uncoerced()
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_typer_coerces_an_unset_value_to_none() -> None:
    """What the wrapper returns without asking Typer, Typer's own `process_value` returns too."""
    command = typer.main.get_command(app)
    ctx = typer.Context(command)
    for param in command.params:
        if param.name in ("where", "count"):
            assert isinstance(param, _TyperParameter)
            assert typer_compat._coerce_and_process(param, ctx, None) is None


def test_unset_options_stay_none_and_their_callback_still_runs() -> None:
    seen.clear()
    assert _run("--name", "x") == (0, "('x', None, None, None)\n")
    assert seen == [None]


def test_given_values_are_still_coerced_and_checked() -> None:
    code, output = _run("--name", "x", "--colour", "BLUE", "--where", "a/b", "--count", "3")
    assert (code, output) == (0, f"('x', {Colour.BLUE!r}, {Path('a/b')!r}, 3)\n")
    assert _run("--name", "x", "--count", "0")[0] == 2
    assert _run("--name", "x", "--colour", "green")[0] == 2


def test_a_missing_required_option_is_still_a_usage_error() -> None:
    code, output = _run()
    assert code == 2
    assert "Missing option '--name'" in output


RENDER = """
import sys
from typer.testing import CliRunner
import typer
if sys.argv[1] == "stand-ins":
    from pipelines.cli import typer_compat
    typer_compat.import_help_renderer()
    assert "rich.markdown" not in sys.modules and "rich.traceback" not in sys.modules, "imported"
from typer import rich_utils
from typer.models import DeveloperExceptionConfig

app = typer.Typer(rich_markup_mode="markdown")

@app.command(help="Paint *it*:\\n\\n* first a coat\\n* then another")
def paint(colour: str = typer.Option("red", help="The **colour**, see `paint --help`.")) -> None:
    pass

print(CliRunner().invoke(app, ["--help"], terminal_width=80).output)
try:
    raise ValueError("boom")
except ValueError as exc:
    shown = rich_utils.get_traceback(exc, DeveloperExceptionConfig(), [])
print(type(shown).__module__, type(shown).__name__, shown.trace.stacks[0].exc_type)
"""


def _render(mode: str) -> str:
    done = subprocess.run([sys.executable, "-c", RENDER, mode], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_help_renderer_without_markdown_and_traceback_renders_them_when_used() -> None:
    """The stand-ins in `typer.rich_utils` import rich's Markdown and Traceback when Typer uses them after all."""
    rendered = _render("stand-ins")
    assert rendered == _render("real")
    assert "rich.traceback Traceback ValueError" in rendered
    assert "**" not in rendered and "• first a coat" in rendered
