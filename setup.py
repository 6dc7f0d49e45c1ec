"""Build hook: the wheel carries this repository's Dagster instance settings and sample project.

`domains/`, `schemas/` and `dagster*.yaml` stay where this repository's own project uses them; building
copies them into `pipelines/scaffold/project_files/` (see pipelines/scaffold/bundled.py), so there is one
copy in the repository. Everything else is configured in pyproject.toml.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

_spec = importlib.util.spec_from_file_location("_bundled", Path(__file__).parent / "pipelines/scaffold/bundled.py")
assert _spec and _spec.loader
bundled = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bundled)


class BuildWithProjectFiles(build_py):
    """`build_py`, then the project files copied into the built package (an editable install reads the checkout)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        root = Path(__file__).parent
        target = Path(self.build_lib) / "pipelines" / "scaffold" / bundled.PACKAGED
        for relative in [Path(name) for name in bundled.DAGSTER_FILES] + bundled.sample_files(root):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / relative, target / relative)


setup(cmdclass={"build_py": BuildWithProjectFiles})
