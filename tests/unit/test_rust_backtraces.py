"""A Delta (Rust) error is its one-line cause even when RUST_BACKTRACE is set; `--verbose` brings the backtrace back."""

from __future__ import annotations

import os
import subprocess
import sys

FAILING_DELTA_WRITE = """
import sys, tempfile
import pipelines
if sys.argv[1] == "verbose":
    from pipelines.cli.errors import show_tracebacks
    show_tracebacks()
import deltalake, pyarrow as pa
try:
    deltalake.write_deltalake(tempfile.mkdtemp(), pa.table({"d": pa.array([1], pa.duration("us"))}))
except Exception as exc:
    print(len(str(exc).splitlines()), str(exc).splitlines()[0])
"""


def _error_lines(mode: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "RUST_LIB_BACKTRACE"} | {"RUST_BACKTRACE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", FAILING_DELTA_WRITE, mode],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    count, first = done.stdout.strip().split(" ", 1)
    return int(count), first


def test_a_delta_error_is_one_line_although_rust_backtrace_is_set() -> None:
    assert _error_lines("quiet") == (1, "External error: Schema error: Invalid data type for Delta Lake: Duration(µs)")


def test_verbose_shows_the_backtrace() -> None:
    count, first = _error_lines("verbose")
    assert count > 5
    assert "Invalid data type for Delta Lake" in first
