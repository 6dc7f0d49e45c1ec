"""Settings are read in one place: no other module of meshlake reads the environment."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.paths import REPO

READERS = {
    "pipelines/settings.py": "the one settings model",
    "pipelines/cli/dev.py": "hands the environment the CLI prepared (every setting as MESHLAKE_*) to its children",
}
"""Modules that may read `os.environ`, and why; writes (`setdefault`, `update`, `os.environ[k] = v`) are not reads."""
WRITES = {"setdefault", "update"}


def _reads(path: Path) -> list[int]:
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
            if node.attr == "getenv":
                lines.append(node.lineno)
            elif node.attr == "environ":
                parent = parents.get(node)
                if isinstance(parent, ast.Attribute) and parent.attr in WRITES:
                    continue
                if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store):
                    continue
                lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_the_environment() -> None:
    offenders = []
    for folder in ("pipelines", "catalog", "meshlake"):
        for path in sorted((REPO / folder).rglob("*.py")):
            name = path.relative_to(REPO).as_posix()
            if name not in READERS:
                offenders += [f"{name}:{line} reads os.environ" for line in _reads(path)]
    assert offenders == [], "read settings with pipelines.settings.Settings.load() instead"
