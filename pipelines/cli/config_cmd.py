"""`meshlake config`: every effective setting, its value (secrets masked) and where it came from."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def config(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show each setting, its value and its source: default, project file, MESHLAKE_* variable or flag."""
    from pipelines.cli import context
    from pipelines.settings_view import config_rows

    rows = config_rows(context.settings())
    if as_json:
        typer.echo(json.dumps([{"setting": r.name, "value": r.value, "source": r.source} for r in rows], indent=1))
        return
    # Plain aligned lines, never cut (paths and URLs are long): like `git config --list --show-origin`.
    values = [row.value or "(unset)" for row in rows]
    name_width = max(len(row.name) for row in rows)
    value_width = max(len(v) for v in values)
    for row, value in zip(rows, values, strict=True):
        typer.echo(f"{row.name:<{name_width}}  {value:<{value_width}}  {row.source}".rstrip())
