"""Bronze ingestion from landing files into real tables: exactly once, rejects quarantined, bad input refused;
on the local disk and on S3 (SeaweedFS) alike."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.adapters.landing import write_landing_file
from pipelines.adapters.landing.compression import map_file
from pipelines.bootstrap import Runtime
from pipelines.core.framing import frame, unframe
from pipelines.core.names import Layer
from pipelines.core.positions import POSITIONS_PROPERTY
from pipelines.generation import generate_landing
from pipelines.services import ingest as ingest_module
from pipelines.services.ingest import IngestResult, UnframedInputError, ingest_event
from pipelines.settings import Settings
from tests.landed import landed_counts
from tests.paths import MESH

FORMATS = ["iceberg", "delta", "memory"]


@pytest.fixture(params=["local", "s3"])
def runtime_on(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Runtime]:
    """Runtimes (`runtime_on(fmt)`) with the warehouse and the landing zone on the local disk, or both on S3:
    the source and the stores pass the same suite on either storage."""
    env = {"MESHLAKE_HOME": str(tmp_path / "home")}
    if request.param == "s3":
        server, prefix = request.getfixturevalue("s3_server"), request.getfixturevalue("s3_prefix")
        env |= {
            "MESHLAKE_WAREHOUSE": f"{prefix}/warehouse",
            "MESHLAKE_LANDING": f"{prefix}/landing",
            "MESHLAKE_S3_ENDPOINT": server.endpoint,
            "MESHLAKE_S3_ACCESS_KEY_ID": server.access_key,
            "MESHLAKE_S3_SECRET_ACCESS_KEY": server.secret_key,
        }
    return lambda fmt: Runtime(Settings.load(project=MESH, env=env | {"MESHLAKE_FORMAT": fmt}))


def _ingest(runtime: Runtime, run_id: str = "run-1") -> IngestResult:
    orders = runtime.domain("orders")
    return ingest_event(
        orders, "order_placed", runtime.contract("orders", "order_placed"), runtime.landing, runtime, run_id
    )


def _bronze(runtime: Runtime) -> pa.Table:
    return runtime.store_for("orders", Layer.BRONZE).read(runtime.domain("orders").bronze_table("order_placed"))


def _quarantine(runtime: Runtime) -> pa.Table:
    return runtime.store_for("orders", Layer.QUARANTINE).read(runtime.domain("orders").quarantine_table())


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_event_lands_once_and_a_rerun_adds_nothing(runtime_on: Callable[[str], Runtime], fmt: str) -> None:
    runtime = runtime_on(fmt)
    generate_landing(runtime, "orders", 2_000, seed=3, files=3)
    valid, invalid = landed_counts(runtime, "orders", "order_placed")  # the generator mixes in a few bad events
    first = _ingest(runtime)
    assert first.rows_written == valid
    assert first.quarantined == invalid
    second = _ingest(runtime, "run-2")
    assert second.rows_written == 0
    assert second.commits == []
    bronze = _bronze(runtime)
    assert bronze.num_rows == valid
    ingest = bronze.column("_ingest").combine_chunks()
    keys = set(zip(ingest.field("source").to_pylist(), ingest.field("offset").to_pylist(), strict=True))
    assert len(keys) == valid  # each (file, offset) exactly once
    assert set(ingest.field("run_id").to_pylist()) == {"run-1"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_new_files_are_picked_up_and_commits_record_their_positions(
    runtime_on: Callable[[str], Runtime], fmt: str
) -> None:
    runtime = runtime_on(fmt)
    generate_landing(runtime, "orders", 500, seed=1, files=1)
    _ingest(runtime)
    before = landed_counts(runtime, "orders", "order_placed")[0]
    generate_landing(runtime, "orders", 300, seed=2, files=1)
    result = _ingest(runtime, "run-2")
    after = landed_counts(runtime, "orders", "order_placed")[0]
    assert result.rows_written == after - before
    assert _bronze(runtime).num_rows == after
    store = runtime.store_for("orders", Layer.BRONZE)
    history = store.history(runtime.domain("orders").bronze_table("order_placed"))
    recorded = [c.properties[POSITIONS_PROPERTY] for c in history if POSITIONS_PROPERTY in c.properties]
    assert len(recorded) == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_undecodable_and_contract_breaking_events_go_to_quarantine_with_reasons(
    runtime_on: Callable[[str], Runtime], fmt: str
) -> None:
    runtime = runtime_on(fmt)
    cls = runtime.schemas.message_class("meshlake.orders.v1.OrderPlaced")
    good = cls(event_id="e1", order_id="O1", customer_id="C1", currency="EUR", country="DE")
    good.placed_at.FromSeconds(1_790_000_000)
    no_key = cls(event_id="e2", customer_id="C1")
    no_key.placed_at.FromSeconds(1_790_000_000)
    no_time = cls(event_id="e3", order_id="O3")
    garbage = b"\xff\xff\xff\xff"
    payloads = [good.SerializeToString(), garbage, no_key.SerializeToString(), no_time.SerializeToString()]
    write_landing_file(runtime.landing.location, "orders", "order_placed", "mixed", payloads)

    result = _ingest(runtime)
    assert (result.rows_written, result.quarantined) == (1, 3)
    quarantine = _quarantine(runtime).sort_by("offset").to_pylist()
    assert [q["payload"] for q in quarantine] == payloads[1:]
    reasons = [q["reason"] for q in quarantine]
    assert reasons[0].startswith("decode:")
    assert reasons[1] == "contract: order_id is missing"
    assert reasons[2] == "contract: placed_at is unset"
    assert all(q["source"] == "orders/order_placed/mixed.pb" for q in quarantine)
    assert _bronze(runtime).column("event_id").to_pylist() == ["e1"]
    _ingest(runtime, "run-2")  # a re-run quarantines nothing twice
    assert _quarantine(runtime).num_rows == 3


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_file_that_is_not_length_delimited_fails_clearly_and_leaves_tables_untouched(
    make_runtime: Callable[..., Runtime], fmt: str
) -> None:
    runtime = make_runtime(fmt)
    generate_landing(runtime, "orders", 100, seed=1, files=1)
    valid = landed_counts(runtime, "orders", "order_placed")[0]
    _ingest(runtime)
    store = runtime.store_for("orders", Layer.BRONZE)
    table = runtime.domain("orders").bronze_table("order_placed")
    before = store.history(table)
    folder = runtime.settings.landing_dir / "orders" / "order_placed"
    (folder / "zz-export.pb").write_bytes(b"order_id,total\nO1,12.50\n")
    os.utime(folder / "zz-export.pb", (0, 0))  # settled: its first "frame" will never be whole
    with pytest.raises(UnframedInputError) as err:
        _ingest(runtime, "run-2")
    assert "orders/order_placed/zz-export.pb: byte" in str(err.value)
    assert "not a varint length-delimited protobuf stream" in str(err.value)
    assert store.history(table) == before
    assert store.read(table).num_rows == valid


def test_partial_files_are_not_read(make_runtime: Callable[..., Runtime]) -> None:
    runtime = make_runtime("memory")
    folder = runtime.settings.landing_dir / "orders" / "order_placed"
    folder.mkdir(parents=True)
    (folder / ".still-writing.pb.partial").write_bytes(b"\x05abc")
    assert runtime.landing.files("orders", "order_placed") == []


def test_a_plain_landing_file_is_mapped_and_its_payloads_outlive_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.pb"
    path.write_bytes(frame([b"one", b"", b"three"]))
    payloads = unframe(map_file(path)).payloads
    path.unlink()  # a map stays readable once its file is gone (a landing file is never rewritten)
    assert list(payloads) == [b"one", b"", b"three"]
    assert all(type(p) is bytes for p in payloads)
    (tmp_path / "empty.pb").write_bytes(b"")
    assert map_file(tmp_path / "empty.pb") == b""


@pytest.mark.parametrize("suffix", [".pb.gz", ".pb.zst"])
def test_compressed_landing_files_are_read_once(runtime_on: Callable[[str], Runtime], suffix: str) -> None:
    runtime = runtime_on("memory")
    generate_landing(runtime, "orders", 250, seed=5, files=2, suffix=suffix)
    files = [f.source for f in runtime.landing.files("orders", "order_placed")]
    assert len(files) == 2 and all(name.endswith(suffix) for name in files), files  # compressed, where it reads
    valid = landed_counts(runtime, "orders", "order_placed")[0]
    assert valid > 200  # 230 of the 250 events of seed 5
    assert _ingest(runtime).rows_written == valid
    assert _ingest(runtime, "run-2").rows_written == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_files_stream_through_in_small_batches_into_one_commit_per_commit_size(
    runtime_on: Callable[[str], Runtime], fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoded and written `BATCH_ROWS` at a time; commits still follow `max_rows_per_commit` and record every file."""
    monkeypatch.setattr(ingest_module, "BATCH_ROWS", 97)
    runtime = runtime_on(fmt)
    generate_landing(runtime, "orders", 1_200, seed=5, files=3)
    valid, invalid = landed_counts(runtime, "orders", "order_placed")
    orders = runtime.domain("orders")
    contract = runtime.contract("orders", "order_placed")
    result = ingest_event(orders, "order_placed", contract, runtime.landing, runtime, "run-1", max_rows_per_commit=500)

    assert (result.rows_written, result.quarantined) == (valid, invalid)
    sources = [r.source for r in result.positions]
    assert len(sources) == 3 and sorted(sources) == sources  # every file once, in order
    assert len(result.commits) == 2  # files 1+2 reach 500 rows (~400 each), file 3 is the rest
    bronze = _bronze(runtime)
    assert bronze.num_rows == valid
    ingest = bronze.column("_ingest").combine_chunks()
    keys = set(zip(ingest.field("source").to_pylist(), ingest.field("offset").to_pylist(), strict=True))
    assert len(keys) == valid  # each (file, offset) exactly once
    assert _quarantine(runtime).num_rows == invalid
    assert _ingest(runtime, "run-2").commits == []
