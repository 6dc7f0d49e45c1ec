"""The code location under its former name: `meshlake.definitions` (the project found from the working directory)."""

from meshlake.definitions import defs
from pipelines.dagster.code_location import STEP_EXECUTOR, build_definitions

__all__ = ["STEP_EXECUTOR", "build_definitions", "defs"]
