"""Log lines: a table event's fields in the text and JSON formats, the level, and secrets kept out."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from pipelines import logs
from pipelines.settings import Settings

SECRET = "s3cr3t-V4lue-never-logged"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    logging.getLogger().handlers[:] = [h for h in logging.getLogger().handlers if h.name != "meshlake"]
    for name in logs.OURS:
        logging.getLogger(name).setLevel(logging.NOTSET)


def _event(level: int = logging.INFO) -> None:
    logs.table_event(
        logging.getLogger("pipelines.services.build"),
        "commit",
        logs.AssetRun("shop", "shop/gold/daily_sales", "r-1"),
        "shop.daily_sales",
        7,
        level=level,
        rows=3,
    )


def test_json_lines_carry_the_event_fields(stream: io.StringIO) -> None:
    logs.configure("info", "json", stream)
    _event()
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert {k: record[k] for k in ("level", "logger", "event", "domain", "asset", "run_id", "table", "version")} == {
        "level": "info",
        "logger": "pipelines.services.build",
        "event": "commit",
        "domain": "shop",
        "asset": "shop/gold/daily_sales",
        "run_id": "r-1",
        "table": "shop.daily_sales",
        "version": 7,
    }
    assert record["rows"] == 3
    assert record["message"] == (
        "commit shop.daily_sales version 7: domain=shop asset=shop/gold/daily_sales run_id=r-1 rows=3"
    )


def test_text_lines_say_the_fields_and_the_level_filters(stream: io.StringIO) -> None:
    logs.configure("warning", "text", stream)
    _event()
    logging.getLogger("pyiceberg").info("not ours, not shown")
    assert stream.getvalue() == ""
    logs.configure("info", "text", stream)
    _event()
    logging.getLogger("pyiceberg").info("other libraries: warnings and errors only")
    assert stream.getvalue().splitlines() == [
        "INFO pipelines.services.build: commit shop.daily_sales version 7: domain=shop asset=shop/gold/daily_sales "
        "run_id=r-1 rows=3"
    ]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_are_masked_in_messages_fields_and_tracebacks(stream: io.StringIO, fmt: str) -> None:
    settings = Settings(
        s3_secret_access_key=SecretStr(SECRET),
        catalog_token=SecretStr("tok-" + SECRET),
        nats_url="nats://ingest:nats-" + SECRET + "@127.0.0.1:4222",
        iceberg_catalog_uri="postgresql+psycopg2://me:pg-" + SECRET + "@db/iceberg",
    )
    logs.hide(settings.secrets())
    logs.configure("debug", fmt, stream)
    log = logging.getLogger("pipelines.adapters.nats")
    log.warning("nats %s: %r", settings.nats_url, ConnectionError(f"refused with {SECRET}"))
    log.info("token %s", settings.token, extra={logs.FIELDS: {"header": f"Bearer tok-{SECRET}"}})
    try:
        raise RuntimeError(f"cannot open {settings.iceberg_catalog_uri}")
    except RuntimeError:
        log.exception("failed")
    logging.getLogger("sqlalchemy").warning("a URL elsewhere: postgresql://u:other-pass@h/db")
    out = stream.getvalue()
    assert SECRET not in out
    assert "other-pass" not in out
    assert "nats://ingest:********@127.0.0.1:4222" in out
    assert "RuntimeError: cannot open postgresql+psycopg2://me:********@db/iceberg" in out.replace("\\n", "\n")


def test_json_lines_while_an_asset_runs_say_which_run(stream: io.StringIO) -> None:
    logs.configure("info", "json", stream)
    logging.getLogger("pipelines.adapters.nats").warning("slow consumer")
    with logs.running(logs.AssetRun("shop", "shop/bronze/sale_made", "r-2")):
        logging.getLogger("pipelines.adapters.nats").warning("slow consumer")
    before, during = (json.loads(line) for line in stream.getvalue().splitlines())
    assert "run_id" not in before
    assert (during["domain"], during["asset"], during["run_id"]) == ("shop", "shop/bronze/sale_made", "r-2")
