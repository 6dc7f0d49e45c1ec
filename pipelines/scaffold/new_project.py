"""`meshlake init`: a new project folder (project file, domains/, schemas/, dagster.yaml, pyproject,
.gitignore, README), optionally holding the sample domains."""

from __future__ import annotations

import re
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pipelines.scaffold.bundled import DAGSTER_FILES, bundled_root, sample_files
from pipelines.scaffold.render import render, templates


class ScaffoldError(Exception):
    """A project or domain cannot be created where asked; the message names the folder or file."""


def requirement() -> str:
    """The dependency a new project declares: this meshlake release up to the next minor (0.x) or major."""
    try:
        current = version("meshlake")
    except PackageNotFoundError:  # pragma: no cover - meshlake runs installed, editable or not
        return "meshlake"
    parts = [int(p) for p in re.findall(r"\d+", current)[:2]] + [0]
    upper = f"0.{parts[1] + 1}" if parts[0] == 0 else f"{parts[0] + 1}"
    return f"meshlake>={current},<{upper}"


def _names(folder: Path) -> dict[str, str]:
    title = folder.name or "project"
    ident = re.sub(r"[^a-z0-9_]+", "_", title.lower()).strip("_") or "project"
    if not ident[0].isalpha():
        ident = f"project_{ident}"
    return {
        "title": title,
        "name": ident,
        "dist_name": ident.replace("_", "-"),
        "requirement": requirement(),
    }


def _copy(source: Path, target: Path) -> Path | None:
    """Copy a file unless `target` exists (a file of the folder, kept, or the template's own)."""
    if target.exists():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def init_project(folder: Path, *, sample: bool = False, force: bool = False) -> list[Path]:
    """Create a project in `folder` (created when missing).

    Args:
        folder: the project folder.
        sample: also copy the sample domains (orders, payments, shipping) and their schemas.
        force: add the project to a folder that is not empty; files that exist are kept.

    Returns:
        The files written.

    Raises:
        ScaffoldError: `folder` is a file, or not empty and `force` is false.
    """
    if folder.exists() and not folder.is_dir():
        raise ScaffoldError(f"{folder}: is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise ScaffoldError(f"{folder}: not empty (pass --force to add a project to it, keeping its files)")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        written = render(templates("project"), folder, _names(folder.resolve()), keep_existing=force)
    except FileExistsError as exc:
        raise ScaffoldError(str(exc)) from None
    root = bundled_root()
    copies = [Path(name) for name in DAGSTER_FILES] + (sample_files(root) if sample else [])
    for relative in copies:
        if (path := _copy(root / relative, folder / relative)) is not None:
            written.append(path)
    return written
