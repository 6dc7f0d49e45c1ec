"""The Dagster code location of the project found from the working directory (or `MESHLAKE_PROJECT`).

A project needs no module of its own: `[tool.dagster] module_name = "meshlake.definitions"` in its
pyproject.toml (or `dagster dev -m meshlake.definitions`) loads it.
"""

from pipelines.dagster.code_location import build_definitions

defs = build_definitions()
