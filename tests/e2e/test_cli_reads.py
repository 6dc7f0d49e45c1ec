"""Commands that only read never create a home, a table catalog or a catalog database: on an empty
MESHLAKE_HOME they say there is nothing yet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import MESH

MESHLAKE = str(Path(sys.executable).parent / "meshlake")


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MESHLAKE, *args], capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    return base | {"MESHLAKE_PROJECT": str(MESH), "MESHLAKE_HOME": str(tmp_path / "home"), "COLUMNS": "200"}


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["query", "SELECT * FROM orders.daily_revenue"], 1, "no table yet"),
        (["products"], 0, "no data product"),
        (["quarantine", "list"], 0, "no table yet"),
        (["events"], 0, "no table yet"),
        (["catalog", "list"], 0, "no catalog yet"),
        (["catalog", "search", "revenue"], 0, "no catalog yet"),
        (["catalog", "show", "orders.daily_revenue"], 1, "no catalog yet"),
        (["catalog", "contract", "orders.daily_revenue"], 1, "no catalog yet"),
        (["catalog", "audit"], 0, "no catalog yet"),
        (["catalog", "token", "list"], 0, "no catalog yet"),
    ],
)
@pytest.mark.parametrize("home", ["missing", "empty", "landing only"])
def test_a_read_on_an_empty_home_creates_nothing_and_says_so(
    env: dict[str, str], tmp_path: Path, args: list[str], code: int, says: str, home: str
) -> None:
    root = Path(env["MESHLAKE_HOME"])
    if home != "missing":
        root.mkdir()
    if home == "landing only":
        (root / "landing" / "orders").mkdir(parents=True)
    before = _files(root)
    result = run(args, env, tmp_path)
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert says in result.stdout + result.stderr
    assert _files(root) == before
    if home == "missing":
        assert not root.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["products", "--principal", "orders"],
        ["query", "--principal", "orders", "SELECT 1"],
    ],
)
def test_a_read_as_a_principal_on_a_home_without_a_catalog_creates_none(
    env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    """Grants live in the catalog: with tables but no catalog database there are none to check, and
    reading as a principal says so rather than create an empty catalog that grants nothing."""
    import pyarrow as pa
    from deltalake import write_deltalake

    root = Path(env["MESHLAKE_HOME"])
    write_deltalake(str(root / "delta" / "orders" / "daily_revenue"), pa.table({"day": ["2026-12-06"]}))
    before = _files(root)
    result = run(args, env, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert f"no catalog yet: {root / 'catalog' / 'catalog.db'} does not exist" in result.stdout + result.stderr
    assert _files(root) == before
