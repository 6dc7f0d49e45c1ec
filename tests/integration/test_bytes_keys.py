"""Event ids and entity keys of type bytes, and events a table cannot hold: each bad event goes to quarantine alone."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.adapters.landing import write_landing_file
from pipelines.adapters.protobuf import compile_schemas
from pipelines.bootstrap import Runtime
from pipelines.core.domain import Domain
from pipelines.core.event_contract import EventContract
from pipelines.core.names import Layer
from pipelines.core.spec import DomainSpec
from pipelines.services.ingest import ingest_event
from pipelines.settings import Settings
from tests.paths import MESH

FIXTURES = Path(__file__).parents[1] / "fixtures" / "proto"
READING = "meshlake.readings.v1.Reading"
Reading = compile_schemas(FIXTURES).message_class(READING)


def _runtime(home: Path, fmt: str) -> Runtime:
    spec = DomainSpec.model_validate(
        {"name": "sensors", "owner": "team-sensors", "schemas": "readings/v1", "events": {"read": {"message": READING}}}
    )
    env = {"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt, "MESHLAKE_SCHEMAS": str(FIXTURES)}
    return Runtime(Settings.load(project=MESH, env=env), domains=[Domain(spec=spec, transforms={})])


def _contract(runtime: Runtime) -> EventContract:
    return dataclasses.replace(
        runtime.contract("sensors", "read"), event_id="reading_id", entity_key="sensor_key", event_time="at"
    )


def _reading(rng: random.Random, **values: object) -> bytes:
    message = Reading(reading_id=rng.randbytes(16), sensor_key=b"\xff\xfe" + rng.randbytes(2), value=1.5)
    message.at.FromMicroseconds(1_700_000_000_000_000)
    for name, value in values.items():
        setattr(message, name, value)
    payload: bytes = message.SerializeToString()
    return payload


def _ingest(runtime: Runtime, contract: EventContract) -> tuple[int, int]:
    result = ingest_event(runtime.domain("sensors"), "read", contract, runtime.landing, runtime, "run-1")
    return result.rows_written, result.quarantined


def _tables(runtime: Runtime) -> tuple[pa.Table, pa.Table]:
    domain = runtime.domain("sensors")
    store = runtime.store_for("sensors", Layer.BRONZE)
    return store.read(domain.bronze_table("read")), store.read(domain.quarantine_table())


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
@pytest.mark.parametrize("n", [1, 300])
def test_bytes_ids_and_keys_are_stored_and_only_bad_events_are_quarantined(tmp_path: Path, fmt: str, n: int) -> None:
    runtime = _runtime(tmp_path / "home", fmt)
    rng = random.Random(n)
    good = [_reading(rng) for _ in range(n)]
    bad = [_reading(rng, reading_id=b""), b"\x0a\x05ab"]  # no id; a truncated field
    write_landing_file(runtime.settings.landing_dir, "sensors", "read", "f1", [*good[:1], *bad, *good[1:]])

    assert _ingest(runtime, _contract(runtime)) == (n, 2)

    bronze, quarantine = _tables(runtime)
    assert bronze.schema.field("reading_id").type == pa.binary()
    assert sorted(bronze.column("reading_id").to_pylist()) == sorted(Reading.FromString(p).reading_id for p in good)
    reasons = sorted(quarantine.column("reason").to_pylist())
    assert reasons[0] == "contract: reading_id is missing"
    assert reasons[1].startswith("decode: protobuf DecodeError")


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
@pytest.mark.parametrize("n", [1, 300])
def test_an_event_its_table_cannot_hold_goes_to_quarantine_alone(tmp_path: Path, fmt: str, n: int) -> None:
    """A bronze table made when uint64 was stored as int64 cannot hold 2**63: that event alone is quarantined."""
    runtime = _runtime(tmp_path / "home", fmt)
    contract = _contract(runtime)
    legacy = contract.bronze_schema()
    legacy = legacy.set(legacy.get_field_index("counter"), legacy.field("counter").with_type(pa.int64()))
    runtime.store_for("sensors", Layer.BRONZE).ensure_table(runtime.domain("sensors").bronze_table("read"), legacy)
    rng = random.Random(n)
    good = [_reading(rng, counter=i) for i in range(n)]
    write_landing_file(
        runtime.settings.landing_dir, "sensors", "read", "f1", [*good[:1], _reading(rng, counter=2**63), *good[1:]]
    )

    assert _ingest(runtime, contract) == (n, 1)

    bronze, quarantine = _tables(runtime)
    assert sorted(bronze.column("counter").to_pylist()) == list(range(n))
    [reason] = quarantine.column("reason").to_pylist()
    assert reason.startswith("store: ") and "counter" in reason, reason
