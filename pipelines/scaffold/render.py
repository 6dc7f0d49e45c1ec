"""Renders a folder of templates into a project: `$name` placeholders (string.Template) in paths and text."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

SUFFIX = ".tmpl"
"""Only files with this suffix are templates (so linters and pytest skip the .py ones); it is dropped."""
DOT = "dot-"
"""A file name starting with this starts with a dot once rendered (`dot-gitignore` -> `.gitignore`)."""


def templates(*parts: str) -> Traversable:
    """A folder of the templates shipped with meshlake (`templates("project")`, `templates("domain", "schemas")`)."""
    folder = files("pipelines.scaffold") / "templates"
    for part in parts:
        folder = folder / part
    return folder


def _walk(folder: Traversable, relative: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _walk(entry, (*relative, entry.name))
        elif entry.name.endswith(SUFFIX):
            yield (*relative, entry.name), entry


def _target(parts: tuple[str, ...], values: Mapping[str, str]) -> Path:
    rendered = [Template(part).substitute(values) for part in parts]
    name = rendered[-1].removesuffix(SUFFIX)
    rendered[-1] = "." + name.removeprefix(DOT) if name.startswith(DOT) else name
    return Path(*rendered)


def render(source: Traversable, dest: Path, values: Mapping[str, str], *, keep_existing: bool = False) -> list[Path]:
    """Write the templates under `source` (see `templates`) under `dest`, placeholders replaced by `values`.

    Args:
        source: a folder of templates.
        dest: the folder the templates' paths below `source` start from.
        values: the placeholders' values.
        keep_existing: leave a file that exists as it is (otherwise it is an error).

    Returns:
        The files written.

    Raises:
        FileExistsError: a file to write exists and `keep_existing` is false (nothing is written).
    """
    items = [(dest / _target(parts, values), source) for parts, source in _walk(source)]
    existing = [path for path, _ in items if path.exists()]
    if existing and not keep_existing:
        raise FileExistsError(f"{existing[0]}: exists already")
    written = []
    for path, template in items:
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template.read_text()).substitute(values))
        written.append(path)
    return written
