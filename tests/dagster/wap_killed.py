"""The process the write-audit-publish kill test kills: the ledger's Dagster run, SIGKILLed between audit and publish.

Run as `python -m tests.dagster.wap_killed <project> <home>`. The candidate stores' `publish` is
replaced, in this process only, by a SIGKILL of the process: the run dies after its candidate
passed the audit and before it became the published version.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.adapters.delta.candidates import DeltaCandidates
from pipelines.adapters.iceberg.candidates import IcebergCandidates
from pipelines.settings import Settings
from tests.wap_project import materialize


def die(*_: Any) -> None:
    """SIGKILL this process: no cleanup, no flush, as a crash or an OOM kill would."""
    os.kill(os.getpid(), signal.SIGKILL)


def main(project: str, home: str) -> None:
    IcebergCandidates.publish = die  # type: ignore[assignment,method-assign]
    DeltaCandidates.publish = die  # type: ignore[assignment,method-assign]
    settings = Settings.load(project=Path(project), env={"MESHLAKE_HOME": home})
    materialize(settings, dg.DagsterInstance.ephemeral())


if __name__ == "__main__":
    main(*sys.argv[1:])
