"""An OpenLineage HTTP receiver on 127.0.0.1 (a free port) keeping every event it is sent, and the OpenLineage
JSON schemas (tests/fixtures/openlineage, offline) to validate them: the event, and each facet by its `_schemaURL`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema_rs

from tests.paths import REPO

SCHEMAS = REPO / "tests" / "fixtures" / "openlineage"


class Receiver:
    """The events received, in order, and the URL to send them to (`OPENLINEAGE_URL`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A running receiver; it answers 200 to every POST and keeps its JSON body."""
    got: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.paths.append(self.path)
            got.events.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    got = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        server.shutdown()  # returns once serve_forever did (it polls every 0.5 s)
        server.server_close()
        thread.join(10)


@cache
def _registry() -> jsonschema_rs.Registry:
    documents = [json.loads(p.read_text()) for p in sorted(SCHEMAS.rglob("*.json"))]
    return jsonschema_rs.Registry([(doc["$id"], doc) for doc in documents])


def _validator(ref: str) -> Any:
    return jsonschema_rs.validator_for({"$ref": ref}, registry=_registry(), offline=True)


def schema_errors(event: dict[str, Any]) -> list[str]:
    """What makes `event` invalid: against OpenLineage.json, then each facet against its own schema (a facet
    whose schema is not among the fixtures is an error too)."""
    errors = [f"event: {e}" for e in _validator(event["schemaURL"]).iter_errors(event)]
    for where, facet in _facets(event):
        url = facet.get("_schemaURL", "")
        try:
            found = [f"{where}: {e}" for e in _validator(url).iter_errors(facet)]
        except (jsonschema_rs.ReferencingError, ValueError) as exc:
            found = [f"{where}: schema {url!r} not available: {exc}"]
        errors += found
    return errors


def _facets(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for part in ("run", "job"):
        for name, facet in (event[part].get("facets") or {}).items():
            yield f"{part}.{name}", facet
    for side in ("inputs", "outputs"):
        for dataset in event.get(side) or []:
            for kind in ("facets", "inputFacets", "outputFacets"):
                for name, facet in (dataset.get(kind) or {}).items():
                    yield f"{side}[{dataset['name']}].{kind}.{name}", facet
