"""Shared fixtures: a fresh MESHLAKE_HOME and a runtime on it, per table format."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.bootstrap import Runtime
from pipelines.settings import Settings
from tests.paths import MESH, REPO

# Code that finds its project the way a user's command does (the Dagster code location, commands run as
# subprocesses) finds the platform tests' own mesh, never the repository's sample project.
os.environ["MESHLAKE_PROJECT"] = str(MESH)
# Commands run as subprocesses (the CLI, `make dev`, Dagster's code servers) import this checkout's code, as the
# tests do: a venv shared with another checkout (its editable install maps the packages there) would run that one's.
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])

pytest_plugins = ["tests.postgres", "tests.seaweedfs", "tests.iceberg_rest"]


@pytest.fixture(autouse=True)
def _fresh_cli_flags() -> None:
    """Each test's in-process CLI calls start as a new `meshlake` process does: with no global flags
    (`--project`, `--log-level`) left by another test's call of a sub-app that skipped the main callback."""
    from pipelines.cli import context

    context.use_flags(None, None)


@pytest.fixture
def make_runtime(tmp_path: Path) -> Callable[..., Runtime]:
    """Build a Runtime on `tmp_path/home`, optionally forcing every table into one format."""

    def make(fmt: str | None = None) -> Runtime:
        env = {"MESHLAKE_HOME": str(tmp_path / "home")}
        if fmt:
            env["MESHLAKE_FORMAT"] = fmt
        return Runtime(Settings.load(project=MESH, env=env))

    return make


@pytest.fixture
def spark_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let pyspark's client start in a pytest-xdist worker: pyspark takes a `__main__` without `__file__` (the
    workers run `python -c`) for its own doctest run and then needs a Spark distribution; a `__main__` with a file
    name is an ordinary program."""
    monkeypatch.setattr(sys.modules["__main__"], "__file__", __file__, raising=False)
