"""`meshlake dev` with MESHLAKE_LOG_FORMAT=json writes JSON lines only: its own, Dagster's (webserver, daemon)
and the catalog's (its uvicorn too), from start to Ctrl-C.

A real `meshlake dev` on the event log test project (tests/projects/events), on free ports, in a session of
its own: stopped with SIGINT to its group once everything answers, SIGKILLed if it outlives its deadline.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_dagster_ui import Dev, kill_group, start_dev, wait_for
from tests.paths import REPO

PROJECT = REPO / "tests" / "projects" / "events"


@pytest.fixture
def json_dev(tmp_path: Path) -> Iterator[Dev]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHLAKE_", "DAGSTER_"))}
    env |= {"MESHLAKE_PROJECT": str(PROJECT), "MESHLAKE_HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path)}
    env["MESHLAKE_LOG_FORMAT"] = "json"
    server = start_dev(env, tmp_path, tmp_path / "dev.log", start_new_session=True)
    try:
        server.wait_until_ready(timeout_s=240)
        yield server
    finally:
        kill_group(server.process)


def _lines(log: Path) -> list[dict[str, Any]]:
    text = log.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}\nin:\n{text[-4000:]}")
    return parsed


def test_every_line_of_meshlake_dev_is_json(json_dev: Dev) -> None:
    wait_for(lambda: "dagster.daemon" in json_dev.log.read_text(errors="replace"), timeout_s=120)
    os.killpg(json_dev.process.pid, signal.SIGINT)  # Ctrl-C
    json_dev.process.wait(timeout=90)
    lines = _lines(json_dev.log)
    assert all(isinstance(line, dict) and line.get("level") for line in lines), lines
    said = {(line.get("logger"), line.get("message") or line.get("event")) for line in lines}
    loggers = {logger for logger, _ in said}
    assert {"pipelines.cli.dev", "catalog.cli", "uvicorn.error", "dagster", "dagster-webserver"} <= loggers, loggers
    assert any(str(logger).startswith("dagster.daemon") for logger in loggers), loggers
    assert any(
        logger == "pipelines.cli.dev" and message is not None and message.startswith("Dagster UI: ")
        for logger, message in said
    )
    assert any(
        logger == "pipelines.cli.dev" and message is not None and message.startswith("SIGINT: stopping")
        for logger, message in said
    )
    assert any(
        logger == "dagster-webserver" and message is not None and "Serving dagster-webserver" in message
        for logger, message in said
    )
