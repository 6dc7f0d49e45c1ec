"""The accounts fixture project (`tests/projects/accounts`): its events generated, landed and ingested, and its silver
tables read back in a fixed order; shared by the silver-engine, null-key and entity-engine tests."""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa

from pipelines.adapters.landing import write_landing_file
from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer
from pipelines.definitions import build_definitions
from pipelines.services.ingest import ingest_event
from pipelines.settings import Settings
from tests.paths import ACCOUNTS

DOMAIN, ENTITY = "accounts", "accounts"
START = datetime(2026, 3, 1, tzinfo=UTC)


def events(runtime: Runtime, count: int, seed: int) -> list[tuple[str, Any]]:
    """`count` events of 40 accounts, in time order: both types, with ties in time broken by `seq`."""
    rng = random.Random(seed)
    classes = {e: runtime.schemas.message_class(s.message) for e, s in runtime.domain(DOMAIN).spec.events.items()}
    out = []
    for n in range(count):
        event = "account_opened" if rng.random() < 0.3 else "balance_changed"
        message = classes[event](
            event_id=f"e-{seed}-{n}", account_id=f"a-{rng.randrange(40):02d}", seq=rng.randrange(3)
        )
        message.at.FromDatetime(START + timedelta(minutes=rng.randrange(count // 4)))  # many events share a time
        if event == "account_opened":
            message.owner, message.tier, message.business = f"  owner {n} ", rng.randrange(4), rng.random() < 0.5
        else:
            message.balance, message.rate = rng.randrange(-5_000, 50_000), rng.random()
        out.append((event, message))
    return out


def land_ingest(runtime: Runtime, batch: list[tuple[str, Any]], name: str) -> dict[str, int]:
    """Land the events of `batch` as one file per type where the runtime's landing source reads, ingest them into
    bronze; the rows written per type."""
    by_event: dict[str, list[bytes]] = {}
    for event, message in batch:
        by_event.setdefault(event, []).append(message.SerializeToString())
    for event, serialised in by_event.items():
        write_landing_file(runtime.landing.location, DOMAIN, event, name, serialised)
    domain = runtime.domain(DOMAIN)
    return {
        e: ingest_event(domain, e, runtime.contract(DOMAIN, e), runtime.landing, runtime, name).rows_written
        for e in domain.spec.events
    }


def payloads(runtime: Runtime, count: int = 300, seed: int = 7) -> dict[str, list[bytes]]:
    """`events(runtime, count, seed)` serialised, by event type."""
    by_event: dict[str, list[bytes]] = {}
    for event, message in events(runtime, count, seed):
        by_event.setdefault(event, []).append(message.SerializeToString())
    return by_event


def table(runtime: Runtime, which: str, entity: str = ENTITY) -> pa.Table:
    """The rows of the entity's `state` or `history` table in the order of key (and, for the history, change), types
    and versions as stored."""
    domain = runtime.domain(DOMAIN)
    store = runtime.store_for(DOMAIN, Layer.SILVER)
    data = store.read(domain.silver_table(entity) if which == "state" else domain.history_table(entity))
    order = [
        domain.spec.entities[entity].key,
        *(["valid_from", "_event", "_v_account_opened", "_v_balance_changed"] if which == "history" else []),
    ]
    return data.sort_by([(c, "ascending") for c in order])


def both(runtime: Runtime, entity: str = ENTITY) -> tuple[pa.Table, pa.Table]:
    """The entity's state and history (see `table`)."""
    return table(runtime, "state", entity), table(runtime, "history", entity)


def own_engines(tmp_path: Path, engines: dict[str, str]) -> Path:
    """A copy of the accounts project whose entities say `engine: <value>` (entity → value)."""
    project = tmp_path / "project"
    shutil.copytree(ACCOUNTS, project)
    spec = project / "domains" / "accounts" / "domain.yaml"
    text = spec.read_text()
    for entity, engine in engines.items():
        head = f"  {entity}:\n"
        assert head in text
        text = text.replace(head, f"{head}    engine: {engine}\n")
    spec.write_text(text)
    return project


def landed_assets(project: Path, home: Path) -> tuple[Settings, Runtime, list[dg.AssetsDefinition]]:
    """The settings and runtime of `project` with its home at `home`, `payloads` of both event types landed, and the
    project's Dagster assets."""
    settings = Settings.load(project=project, env={"MESHLAKE_HOME": str(home)})
    runtime = Runtime(settings)
    for event, serialised in payloads(runtime).items():
        write_landing_file(settings.landing_dir, DOMAIN, event, "batch-1", serialised)
    defs = build_definitions(settings)
    return settings, runtime, [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
