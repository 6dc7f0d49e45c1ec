"""`meshlake --help` is instant: building the help imports no engine, table format or web framework, and the
help of one command imports no other command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipelines.cli.commands import COMMANDS

HEAVY = (
    "dagster",
    "pyiceberg",
    "duckdb",
    "deltalake",
    "polars",
    "pyarrow",
    "fastapi",
    "sqlalchemy",
    "numba",
    "narwhals",
    "openlineage",
    "pydantic",  # Typer's coercion of an unset `--log-level` or `--help` imported it for every subcommand's help
    "pydantic_core",
    "pydantic_settings",  # help needs no settings: loading them doubled `meshlake query --help`'s start
    "markdown_it",  # Typer's help renderer imports rich's Markdown and Traceback, which meshlake's help never uses
    "pygments",
)

PROBE = """
import json, sys
from pipelines.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "loaded": sorted(sys.modules)}))
"""

COMMAND_MODULES = {target.partition(":")[0] for target in COMMANDS.values()}


def _help(args: list[str]) -> tuple[int, set[str]]:
    """The exit code of `meshlake ARGS` and the modules it imported."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    return result["code"], set(result["loaded"])


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["query", "--help"],
        ["catalog", "--help"],
        ["catalog", "token", "create", "--help"],
        ["generate", "--help"],
    ],
)
def test_help_imports_no_heavy_module(args: list[str]) -> None:
    code, loaded = _help(args)
    assert (code, sorted(m for m in loaded if m.split(".")[0] in HEAVY)) == (0, [])


@pytest.mark.parametrize(
    ("args", "module"),
    [
        (["query", "--help"], "pipelines.cli.query_cmd"),
        (["catalog", "token", "create", "--help"], "catalog.cli"),
        (["domain", "new", "--help"], "pipelines.cli.domain_cmd"),
    ],
)
def test_help_of_a_command_imports_no_other_command(args: list[str], module: str) -> None:
    code, loaded = _help(args)
    assert (code, loaded & COMMAND_MODULES) == (0, {module})
