"""`meshlake --help` is instant: building the help imports no engine, table format or web framework."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "dagster",
    "pyiceberg",
    "duckdb",
    "deltalake",
    "polars",
    "pyarrow",
    "fastapi",
    "sqlalchemy",
    "numba",
    "narwhals",
    "openlineage",
    "pydantic_settings",  # help needs no settings: loading them doubled `meshlake query --help`'s start
)

PROBE = """
import json, sys
from pipelines.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "loaded": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["query", "--help"],
        ["catalog", "--help"],
        ["catalog", "token", "create", "--help"],
        ["generate", "--help"],
    ],
)
def test_help_imports_no_heavy_module(args):
    probe = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *args], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "loaded": []}
