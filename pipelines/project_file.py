"""Finding a meshlake project (as git and dbt do: walking up from the working directory) and reading its file.

A project is a folder holding `meshlake.yaml`, or a `pyproject.toml` with a `[tool.meshlake]` table.
The file's keys are settings (see `pipelines.settings.Settings`); paths in it are relative to the folder.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

YAML_FILE = "meshlake.yaml"
PYPROJECT_FILE = "pyproject.toml"
PYPROJECT_TABLE = ("tool", "meshlake")


class ProjectFileError(Exception):
    """A project file is unreadable, or a folder named as a project is not one; names the file."""


@dataclass(frozen=True)
class ProjectFile:
    """A project's folder and the settings its project file holds.

    Attributes:
        root: the project folder (absolute).
        path: the project file (`meshlake.yaml` or `pyproject.toml`).
        values: the file's settings, as written (paths still relative to `root`).
    """

    root: Path
    path: Path
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        """Where a value of this file comes from, for `meshlake config`."""
        return f"{self.path}" if self.path.name == YAML_FILE else f"{self.path} [tool.meshlake]"


def _pyproject_table(path: Path) -> dict[str, Any] | None:
    """The `[tool.meshlake]` table of a pyproject.toml, None when it has none."""
    try:
        data: Any = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectFileError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProjectFileError(f"{path}: not valid TOML: {exc}") from exc
    for key in PYPROJECT_TABLE:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    if not isinstance(data, dict):
        raise ProjectFileError(f"{path}: [tool.meshlake] must be a table")
    return data


def _yaml_values(path: Path) -> dict[str, Any]:
    try:
        data: Any = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ProjectFileError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ProjectFileError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProjectFileError(f"{path}: must be a mapping of settings")
    return data


def read_project(folder: Path) -> ProjectFile | None:
    """The project file of `folder`, None when the folder is not a project.

    Raises:
        ProjectFileError: the file is unreadable, or both `meshlake.yaml` and `[tool.meshlake]` exist.
    """
    root = folder.resolve()
    yaml_path, pyproject = root / YAML_FILE, root / PYPROJECT_FILE
    table = _pyproject_table(pyproject) if pyproject.is_file() else None
    if yaml_path.is_file():
        if table is not None:
            raise ProjectFileError(f"{root}: both {YAML_FILE} and [tool.meshlake] in {PYPROJECT_FILE}: keep one")
        return ProjectFile(root, yaml_path, _yaml_values(yaml_path))
    if table is not None:
        return ProjectFile(root, pyproject, table)
    return None


def find_project(start: Path) -> ProjectFile | None:
    """The nearest project at or above `start`, None when there is none up to the filesystem root."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if found := read_project(folder):
            return found
    return None


def open_project(path: Path) -> ProjectFile:
    """The project named explicitly (`--project`, `MESHLAKE_PROJECT`): its folder or its project file.

    Raises:
        ProjectFileError: `path` does not exist or is not a project.
    """
    folder = path.parent if path.is_file() and path.name in (YAML_FILE, PYPROJECT_FILE) else path
    if not folder.is_dir():
        raise ProjectFileError(f"{path}: no such project folder")
    found = read_project(folder)
    if found is None:
        raise ProjectFileError(
            f"{folder}: not a meshlake project (no {YAML_FILE}, no [tool.meshlake] in {PYPROJECT_FILE})"
        )
    return found
