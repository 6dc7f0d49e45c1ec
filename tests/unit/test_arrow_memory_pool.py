"""Importing meshlake picks Arrow's memory pool for the process: jemalloc, unless the user named one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

POOL_OF_A_NEW_PROCESS = "import pipelines, pyarrow; print(pyarrow.default_memory_pool().backend_name)"


def _pool(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", POOL_OF_A_NEW_PROCESS], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


@pytest.mark.skipif(sys.platform != "linux", reason="meshlake names jemalloc on Linux only")
def test_a_process_that_imports_meshlake_allocates_arrow_memory_with_jemalloc() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}

    assert _pool(env) == "jemalloc"


def test_a_pool_named_in_the_environment_is_kept() -> None:
    assert _pool({**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "system"}) == "system"
