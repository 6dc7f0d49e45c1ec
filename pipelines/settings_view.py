"""How settings are shown to people, from the model's field metadata: `meshlake config` and the README's table.

`python -m pipelines.settings_view README.md` rewrites the table between the README's markers.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from pipelines.settings import ENV_PREFIX, MASK, Settings, mask_url

TABLE_START = "<!-- settings table: generated from pipelines/settings.py by pipelines/settings_view.py -->"
TABLE_END = "<!-- end of settings table -->"


@dataclass(frozen=True)
class SettingRow:
    """One setting as `meshlake config` prints it."""

    name: str
    value: str
    source: str


def env_var(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


def shown_value(settings: Settings, name: str) -> str:
    """The value of a setting as shown: secrets masked, passwords in URLs masked, lists one per `, `."""
    value = getattr(settings, name)
    if value is None or value == []:
        return ""
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    text = getattr(value, "value", value)  # an enum's value
    return mask_url(str(text))


def _effective(settings: Settings, name: str) -> str:
    """The value as used: a default the model derives (home from the project) is shown as it resolves."""
    shown = shown_value(settings, name)
    if shown or settings.project is None:
        return shown
    if name == "catalog_db":
        return f"{settings.catalog_db_url} (derived)"
    return shown


def config_rows(settings: Settings) -> list[SettingRow]:
    """Every setting, its effective value and where it came from (`default`, a file, a variable, a flag)."""
    return [
        SettingRow(name, _effective(settings, name), str(settings.source(name))) for name in type(settings).model_fields
    ]


def settings_table() -> str:
    """The README's table of settings: project-file key, environment variable, default, meaning."""
    lines = [
        "| setting (project file) | environment | default | what |",
        "| --- | --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        default = str(extra.get("default_text", "unset"))
        key = "`--project` (flag)" if name not in Settings.FILE_KEYS else f"`{name}`"
        lines.append(f"| {key} | `{env_var(name)}` | {default} | {field.description} |")
    return "\n".join(lines) + "\n"


def with_table(readme: str) -> str:
    """`readme` with the settings table between its markers replaced by `settings_table()`.

    Raises:
        ValueError: the README has no markers.
    """
    head, start, rest = readme.partition(TABLE_START + "\n")
    _, end, tail = rest.partition(TABLE_END)
    if not start or not end:
        raise ValueError(f"the README has no settings table markers ({TABLE_START} ... {TABLE_END})")
    return head + start + settings_table() + end + tail


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(with_table(path.read_text()))
