"""Small meshlake projects written under a test's tmp_path: a project file, domains, their .proto files."""

from __future__ import annotations

import textwrap
from pathlib import Path

PROTO = """\
syntax = "proto3";
package {package};

import "google/protobuf/timestamp.proto";
import "meshlake/options.proto";

// Something {name} records.
message Happened {{
  option (meshlake.event) = {{ event_id: "event_id" entity_key: "item_id" event_time: "at" }};

  string event_id = 1;
  string item_id = 2;
  google.protobuf.Timestamp at = 3;
  int64 amount = 4;
}}
"""

SPEC = """\
name: {name}
owner: team-{name}
schemas: {name}/v1
events:
  happened: {{message: {package}.Happened}}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def make_project(root: Path, project_file: str = "meshlake.yaml", settings: str = "") -> Path:
    """An empty project at `root`: its project file (`meshlake.yaml` or a pyproject's `[tool.meshlake]`) and
    Dagster's instance settings (SQLite storage under DAGSTER_HOME, no telemetry)."""
    if project_file == "meshlake.yaml":
        write(root / "meshlake.yaml", settings)
    else:
        write(root / "pyproject.toml", f'[project]\nname = "team"\n\n[tool.meshlake]\n{settings}')
    write(root / "dagster.yaml", "telemetry:\n  enabled: false\n")
    (root / "domains").mkdir(parents=True, exist_ok=True)
    (root / "schemas").mkdir(parents=True, exist_ok=True)
    return root


def add_domain(root: Path, name: str, spec_extra: str = "", package: str | None = None) -> Path:
    """A domain with one event type (`<package>.Happened`) and no transforms; returns its folder."""
    package = package or f"team.{name}.v1"
    write(root / "schemas" / name / "v1" / f"{name}.proto", PROTO.format(package=package, name=name))
    write(root / "domains" / name / "domain.yaml", SPEC.format(name=name, package=package) + spec_extra)
    return root / "domains" / name
