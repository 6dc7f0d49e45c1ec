"""Landing files being appended to, and damaged compressed files: nothing lost, nothing blocks the others.

A plain `.pb` file may grow (the contract lets producers append whole frames): a run that finds a
trailing frame not yet complete commits every frame before it and leaves it for the next run. Only
a file that can no longer grow (compressed, or not modified for the settle time) may have a broken
tail, which then goes to quarantine (`on_unframed: quarantine`) or fails the run (`fail`). A
compressed file that cannot be decompressed (truncated, corrupt) is quarantined as a whole, named in
the run's result, and every other file of the run is ingested.
"""

from __future__ import annotations

import gzip
import os
import time
from collections import Counter
from pathlib import Path

import pytest
import zstandard

from pipelines.adapters.protobuf.compiler import compile_schemas
from pipelines.bootstrap import Runtime
from pipelines.core.framing import encode_varint, frame
from pipelines.core.names import Layer
from pipelines.core.positions import Ledger
from pipelines.services.ingest import IngestResult, UnframedInputError, ingest_event
from pipelines.settings import Settings
from tests.integration.crash_worker import NOW
from tests.integration.ingest_helpers import ORDER_PLACED, orders_domain, orders_runtime
from tests.paths import MESH as PROJECT_DIR

FOLDER = Path("orders/order_placed")


def events(first: int, n: int) -> list[bytes]:
    cls = compile_schemas(PROJECT_DIR / "schemas").message_class(ORDER_PLACED)
    out = []
    for i in range(first, first + n):
        msg = cls(event_id=f"E{i}", order_id=f"O{i}", customer_id="C1", total_cents=i)
        msg.placed_at.FromSeconds(1_780_000_000 + i)
        out.append(msg.SerializeToString())
    return out


def ingest(runtime: Runtime, run_id: str = "run") -> IngestResult:
    return ingest_event(
        runtime.domain("orders"),
        "order_placed",
        runtime.contract("orders", "order_placed"),
        runtime.landing,
        runtime,
        run_id,
        clock=lambda: NOW,
    )


def bronze_ids(runtime: Runtime) -> Counter[str]:
    table = runtime.domain("orders").bronze_table("order_placed")
    return Counter(runtime.store_for("orders", Layer.BRONZE).read(table, ["event_id"]).column(0).to_pylist())


def quarantine(runtime: Runtime) -> list[dict[str, object]]:
    table = runtime.domain("orders").quarantine_table()
    rows = runtime.store_for("orders", Layer.QUARANTINE).read(table, ["source", "offset", "reason"])
    return sorted(rows.to_pylist(), key=lambda r: (r["source"], r["offset"]))


def settle(path: Path) -> None:
    """Make the file look untouched for a day (longer than any settle time)."""
    old = time.time() - 86_400
    os.utime(path, (old, old))


@pytest.mark.parametrize("on_unframed", ["fail", "quarantine"])
@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_file_being_appended_to_is_ingested_up_to_its_last_whole_frame(
    tmp_path: Path, fmt: str, on_unframed: str
) -> None:
    runtime = orders_runtime(tmp_path / "home", fmt, on_unframed=on_unframed)
    path = runtime.settings.landing_dir / FOLDER / "growing.pb"
    path.parent.mkdir(parents=True)
    whole = frame(events(0, 12))
    cut = len(frame(events(0, 5))) + 7  # five whole frames and the first bytes of the sixth
    path.write_bytes(whole[:cut])

    first = ingest(runtime, "run-1")
    assert (first.rows_written, first.quarantined) == (5, 0)
    assert [p.end for p in first.positions] == [len(frame(events(0, 5)))]  # stops before the incomplete frame

    with path.open("ab") as out:  # the producer finishes the frame and appends more
        out.write(whole[cut:])
    second = ingest(runtime, "run-2")
    assert (second.rows_written, second.quarantined) == (7, 0)
    assert bronze_ids(runtime) == Counter(f"E{i}" for i in range(12))
    assert quarantine(runtime) == []


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_file_that_stopped_growing_has_its_broken_tail_quarantined_or_refused(tmp_path: Path, fmt: str) -> None:
    runtime = orders_runtime(tmp_path / "home", fmt, on_unframed="quarantine")
    path = runtime.settings.landing_dir / FOLDER / "abandoned.pb"
    path.parent.mkdir(parents=True)
    head = frame(events(0, 3))
    path.write_bytes(head + encode_varint(40) + b"only part of it")
    settle(path)
    result = ingest(runtime)
    assert (result.rows_written, result.quarantined) == (3, 1)
    [row] = quarantine(runtime)
    assert (row["source"], row["offset"]) == ((FOLDER / "abandoned.pb").as_posix(), len(head))
    assert str(row["reason"]).startswith("unframed: frame of 40 bytes runs past the end")

    strict = orders_runtime(tmp_path / "strict", fmt, on_unframed="fail")
    other = strict.settings.landing_dir / FOLDER / "abandoned.pb"
    other.parent.mkdir(parents=True)
    other.write_bytes(path.read_bytes())
    settle(other)
    with pytest.raises(
        UnframedInputError, match=f"abandoned.pb: byte {len(head)}: frame of 40 bytes runs past the end"
    ):
        ingest(strict)


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_file_renamed_after_its_last_write_is_finished_at_once(tmp_path: Path, fmt: str) -> None:
    """A producer that writes `.<name>.partial` and renames it when done (the landing convention) is done with
    it: a cut-short last frame is broken at once, without waiting for the settle time."""
    runtime = orders_runtime(tmp_path / "home", fmt, on_unframed="quarantine")
    folder = runtime.settings.landing_dir / FOLDER
    folder.mkdir(parents=True)
    head = frame(events(0, 3))
    partial = folder / ".renamed.pb.partial"
    partial.write_bytes(head + encode_varint(40) + b"only part of it")
    time.sleep(0.05)  # the rename falls on a later tick of the file system's clock than the write
    partial.rename(folder / "renamed.pb")
    appended = folder / "appended.pb"  # written in place just now: may still grow
    appended.write_bytes(head + encode_varint(40) + b"only part")

    result = ingest(runtime)
    assert (result.rows_written, result.quarantined) == (6, 1)
    [row] = quarantine(runtime)
    assert (row["source"], row["offset"]) == ((FOLDER / "renamed.pb").as_posix(), len(head))


def test_a_file_renamed_away_while_a_run_reads_the_folder_is_left_to_the_run_that_finds_it(tmp_path: Path) -> None:
    runtime = orders_runtime(tmp_path / "home", "delta")
    folder = runtime.settings.landing_dir / FOLDER
    folder.mkdir(parents=True)
    (folder / "a.pb").write_bytes(frame(events(0, 3)))
    (folder / "b.pb").write_bytes(frame(events(3, 3)))
    batches = runtime.landing.batches("orders", "order_placed", Ledger())
    first = next(batches)  # the folder is listed, the first file read
    (folder / "b.pb").rename(folder / "c.pb")  # a producer moves the second one
    assert [first.source, *(b.source for b in batches)] == [(FOLDER / "a.pb").as_posix()]
    assert ingest(runtime).rows_written == 6  # under its new name, by the next run


def damaged_files(folder: Path) -> dict[str, int]:
    """Write a good .pb, .pb.gz and .pb.zst, a truncated .pb.zst, a corrupt .pb.gz and a tiny truncated .pb.zst."""
    folder.mkdir(parents=True)
    (folder / "a-good.pb").write_bytes(frame(events(0, 10)))
    (folder / "b-good.pb.gz").write_bytes(gzip.compress(frame(events(10, 10))))
    (folder / "c-good.pb.zst").write_bytes(zstandard.ZstdCompressor().compress(frame(events(20, 10))))
    truncated = zstandard.ZstdCompressor().compress(frame(events(30, 200)))
    (folder / "d-truncated.pb.zst").write_bytes(truncated[: len(truncated) // 2])
    corrupt = bytearray(gzip.compress(frame(events(230, 10))))
    corrupt[-6] ^= 0xFF  # the CRC
    (folder / "e-corrupt.pb.gz").write_bytes(bytes(corrupt))
    tiny = zstandard.ZstdCompressor().compress(frame(events(240, 1)))
    (folder / "f-tiny.pb.zst").write_bytes(tiny[:-3])
    return {p.name: p.stat().st_size for p in folder.iterdir()}


@pytest.mark.parametrize("on_unframed", ["fail", "quarantine"])
@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_damaged_compressed_files_are_quarantined_whole_and_every_other_file_lands(
    tmp_path: Path, fmt: str, on_unframed: str
) -> None:
    runtime = orders_runtime(tmp_path / "home", fmt, on_unframed=on_unframed)
    sizes = damaged_files(runtime.settings.landing_dir / FOLDER)

    result = ingest(runtime)
    assert bronze_ids(runtime) == Counter(f"E{i}" for i in range(30))
    damaged = {"d-truncated.pb.zst", "e-corrupt.pb.gz", "f-tiny.pb.zst"}
    rows = quarantine(runtime)
    assert [(Path(str(r["source"])).name, r["offset"]) for r in rows] == [(name, 0) for name in sorted(damaged)]
    for row in rows:
        name = Path(str(row["source"])).name
        assert str(row["reason"]).startswith("damaged: "), row
        assert f"{sizes[name]} bytes" in str(row["reason"])
    assert sorted(Path(d).name for d in result.damaged) == sorted(damaged)
    assert "CRC" in result.damaged[(FOLDER / "e-corrupt.pb.gz").as_posix()]

    again = ingest(runtime, "run-2")
    assert (again.rows_written, again.quarantined, again.commits, again.damaged) == (0, 0, [], {})


def test_the_settle_time_is_a_setting(tmp_path: Path) -> None:
    env = {"MESHLAKE_HOME": str(tmp_path / "home"), "MESHLAKE_FORMAT": "delta", "MESHLAKE_LANDING_SETTLE_SECONDS": "0"}
    runtime = Runtime(Settings.load(env=env, cwd=PROJECT_DIR), domains=[orders_domain("quarantine")])
    path = runtime.settings.landing_dir / FOLDER / "fresh.pb"
    path.parent.mkdir(parents=True)
    path.write_bytes(frame(events(0, 2)) + encode_varint(40) + b"cut")
    result = ingest(runtime)  # written just now, but settled at once: its broken tail is quarantined
    assert (result.rows_written, result.quarantined, result.reasons) == (2, 1, {"unframed": 1})
