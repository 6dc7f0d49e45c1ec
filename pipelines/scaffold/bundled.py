"""The files of this repository's own project that every new project starts from: Dagster's instance
settings, and the sample domains with their schemas (`meshlake init --sample`).

They are kept once, where this repository's project uses them (`dagster.yaml`, `domains/`, `schemas/`);
building the wheel copies them into the package (`setup.py`), an editable install reads the checkout.
This module imports nothing but the standard library: `setup.py` loads it by path.
"""

from __future__ import annotations

from pathlib import Path

PACKAGED = "project_files"
"""The folder of `pipelines/scaffold` that the wheel carries them in."""
DAGSTER_FILES = ("dagster.yaml", "dagster.postgres.yaml")
"""Dagster's instance settings (SQLite storage, and the PostgreSQL profile): copied into every project."""
SAMPLE_FOLDERS = ("domains", "schemas")
"""The sample domains and their .proto files: copied by `meshlake init --sample`."""
SKIPPED = ("__pycache__", ".pyc", ".pyo")


class BundledFilesMissingError(Exception):
    """Neither the installed package nor a checkout holds the project files (a broken install)."""


def wanted(path: Path) -> bool:
    """Whether a file below a sample folder belongs to the sample (no bytecode)."""
    return not any(part == SKIPPED[0] or part.endswith(SKIPPED[1:]) for part in path.parts)


def bundled_root() -> Path:
    """The folder holding `dagster.yaml`, `domains/` and `schemas/`: the package's copy, else the checkout.

    Raises:
        BundledFilesMissingError: neither holds them.
    """
    here = Path(__file__).resolve().parent
    for root in (here / PACKAGED, here.parent.parent):
        if all((root / name).exists() for name in (*SAMPLE_FOLDERS, DAGSTER_FILES[0])):
            return root
    raise BundledFilesMissingError(
        f"{here / PACKAGED}: meshlake's project files are missing from this installation (reinstall meshlake)"
    )


def sample_files(root: Path) -> list[Path]:
    """Every file of the sample domains and schemas under `root`, relative to it."""
    return sorted(
        path.relative_to(root)
        for folder in SAMPLE_FOLDERS
        for path in (root / folder).rglob("*")
        if path.is_file() and wanted(path.relative_to(root))
    )
