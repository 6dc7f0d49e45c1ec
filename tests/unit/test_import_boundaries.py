"""Dependencies point inwards: core imports no adapter, no dagster, no IO library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO as PROJECT_DIR

FORBIDDEN_IN_CORE = {
    "dagster", "pyiceberg", "deltalake", "duckdb", "nats", "sqlalchemy", "fastapi", "httpx",
    "uvicorn", "grpc_tools", "requests", "catalog", "io", "pathlib", "shutil", "socket",
    "subprocess", "sqlite3", "urllib", "tempfile", "glob",
}  # fmt: skip
# `os` is allowed in core for process introspection only (the decoder sizes its thread pool); any
# other use (files, environment, processes) is IO and belongs in an adapter.
OS_ALLOWED_IN_CORE = {"cpu_count", "getpid"}
FORBIDDEN_PACKAGES = (
    "pipelines.adapters",
    "pipelines.ports",
    "pipelines.services",
    "pipelines.dagster",
    "pipelines.cli",
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _os_uses(path: Path) -> set[str]:
    """Names used as `os.<name>` in a file, and any `from os import ...`."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
            used.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module in {"os", "os.path"}:
            used.update(f"from-import {alias.name}" for alias in node.names)
    return used


def test_core_uses_os_only_for_process_introspection() -> None:
    offenders = [
        f"{path.relative_to(PROJECT_DIR)} uses os.{name}"
        for path in sorted((PROJECT_DIR / "pipelines" / "core").rglob("*.py"))
        for name in sorted(_os_uses(path) - OS_ALLOWED_IN_CORE)
    ]
    assert offenders == []


def test_core_source_imports_nothing_forbidden() -> None:
    offenders = []
    for path in sorted((PROJECT_DIR / "pipelines" / "core").rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in FORBIDDEN_IN_CORE or name.startswith(FORBIDDEN_PACKAGES) or name == "pipelines":
                offenders.append(f"{path.relative_to(PROJECT_DIR)} imports {name}")
    assert offenders == []


def test_importing_core_loads_no_adapter_library() -> None:
    modules = sorted(p.stem for p in (PROJECT_DIR / "pipelines" / "core").glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import pipelines.core.{m}\n" for m in modules)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        + repr({"dagster", "pyiceberg", "deltalake", "duckdb", "nats", "sqlalchemy", "fastapi", "grpc_tools"})
        + " or m.startswith('pipelines.adapters'))\nprint(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_DIR, timeout=120
    )
    assert out.stdout.strip() == ""


def test_domains_import_only_pipelines_core() -> None:
    offenders = []
    for path in sorted((PROJECT_DIR / "domains").rglob("*.py")):
        for name in _imports(path):
            if name.startswith("pipelines") and not name.startswith("pipelines.core"):
                offenders.append(f"{path.relative_to(PROJECT_DIR)} imports {name}")
            if name.split(".")[0] in {"dagster", "pyiceberg", "deltalake", "catalog"}:
                offenders.append(f"{path.relative_to(PROJECT_DIR)} imports {name}")
    assert offenders == []


def test_import_linter_contracts_hold() -> None:
    out = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports"))],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
