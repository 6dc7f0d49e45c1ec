"""`meshlake generate` and `meshlake materialize` as a user runs them: selections, seeds, the closing table."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import MESH

MESHLAKE = str(Path(sys.executable).parent / "meshlake")


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MESHLAKE, *args], capture_output=True, text=True, env=env, timeout=600, cwd=cwd)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    return base | {"MESHLAKE_PROJECT": str(MESH), "MESHLAKE_HOME": str(tmp_path / "home"), "COLUMNS": "200"}


@pytest.mark.parametrize(
    ("select", "hint"),
    [("group:order", "orders"), ("key:orders/bronze/order_placd", "orders/bronze/order_placed"), ("nonsense", "")],
)
def test_a_selection_that_matches_nothing_exits_2_listing_what_exists(
    env: dict[str, str], tmp_path: Path, select: str, hint: str
) -> None:
    result = run(["materialize", "--select", select], env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and select in error[0] and hint in error[0], result.stderr
    assert "groups: orders, payments, shipping" in error[0]
    assert len(result.stderr.strip().splitlines()) <= 4 and len(error[0]) < 400


def test_generate_takes_a_fresh_seed_each_call_and_prints_it(env: dict[str, str], tmp_path: Path) -> None:
    seeds = []
    for _ in range(2):
        result = run(["generate", "--domain", "payments", "--count", "50", "--files", "1"], env, tmp_path)
        assert result.returncode == 0, result.stderr
        found = re.search(r"--seed (\d+)", result.stdout)
        assert found, result.stdout
        seeds.append(found.group(1))
    assert seeds[0] != seeds[1]
    given = run(["generate", "--domain", "payments", "--count", "50", "--files", "1", "--seed", "11"], env, tmp_path)
    assert "--seed 11" in given.stdout
    landed = {p.name.split("-")[1] for p in (tmp_path / "home" / "landing" / "payments").rglob("*.pb")}
    assert landed == {f"s{seeds[0]}", f"s{seeds[1]}", "s11"}


def test_materialize_ends_with_a_table_of_each_asset(env: dict[str, str], tmp_path: Path) -> None:
    assert run(["generate", "--domain", "payments", "--count", "300", "--files", "1"], env, tmp_path).returncode == 0
    result = run(["materialize", "--select", "group:payments"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "asset" in line and "quarantined" in line)
    header, lines = lines[start], lines[start + 1 :]
    assert "rows" in header and "added" in header and "duration" in header
    assets = ["payments/bronze/payment_authorized", "payments/silver/payments", "payments/gold/settlement_summary"]
    for asset in assets:
        row = next(line for line in lines if asset in line)
        assert re.search(r"\d+\.\d s", row), row
    bronze = next(line for line in lines if "payments/bronze/payment_authorized" in line)
    numbers = [
        int(n.replace(",", "")) for n in re.findall(r"(?<![\w.])[\d,]+(?![\w.])", bronze.split("authorized", 1)[1])
    ]
    rows, added, quarantined = numbers[:3]
    assert rows == added > 0 and quarantined >= 0


def test_materialize_names_each_damaged_file_it_quarantined(env: dict[str, str], tmp_path: Path) -> None:
    """A compressed landing file that cannot be read is quarantined whole, and the run's summary says which."""
    assert run(["generate", "--domain", "payments", "--count", "300", "--files", "1"], env, tmp_path).returncode == 0
    folder = Path(env["MESHLAKE_HOME"]) / "landing" / "payments" / "payment_authorized"
    good = next(folder.glob("*.pb"))
    (folder / "zz-cut-short.pb.gz").write_bytes(gzip.compress(good.read_bytes())[:-40])
    result = run(["materialize", "--select", "key:payments/bronze/payment_authorized"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if "zz-cut-short.pb.gz" in line]
    assert "payments/bronze/payment_authorized" in line and "damaged" in line and "quarantined" in line, line
