"""Landing files on an S3 prefix read exactly as the same files on the local disk: same payloads, offsets
and positions, from where the ledger stopped (a ranged read), compressed files too."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.adapters.landing import LandingFileSource, write_landing_file
from pipelines.adapters.storage import Location, StorageOptions, open_location
from pipelines.core.framing import frame
from pipelines.core.positions import Ledger, PositionRange
from pipelines.ports.event_source import RawRecord

PAYLOADS = [f"event-{n}".encode() * (n % 7 + 1) for n in range(200)]


@pytest.fixture
def sources(tmp_path: Path, s3_prefix: str, s3_options: StorageOptions) -> list[LandingFileSource]:
    """The same landing files written locally and on S3; a source over each."""
    roots: list[Location | Path] = [tmp_path / "landing", open_location(f"{s3_prefix}/landing", s3_options)]
    for root in roots:
        write_landing_file(root, "shop", "click", "a", PAYLOADS[:120])
        write_landing_file(root, "shop", "click", "b", PAYLOADS[120:], ".pb.gz")
        write_landing_file(root, "shop", "click", "c", PAYLOADS[:50], ".pb.zst")
        write_landing_file(root, "shop", "other", "x", PAYLOADS[:3])
    return [LandingFileSource(root) for root in roots]


def _read(
    source: LandingFileSource, ledger: Ledger
) -> list[tuple[str, PositionRange, list[bytes], list[int], list[RawRecord]]]:
    return [
        (b.source, b.range, [bytes(p) for p in b.payloads], [int(o) for o in b.offsets], b.unframed)
        for b in source.batches("shop", "click", ledger)
    ]


def test_landing_files_on_s3_are_listed_and_read_as_on_disk(sources: list[LandingFileSource]) -> None:
    local, s3 = sources
    assert [f.source for f in s3.files("shop", "click")] == [
        "shop/click/a.pb",
        "shop/click/b.pb.gz",
        "shop/click/c.pb.zst",
    ]
    assert [(f.source, f.size) for f in s3.files("shop", "click")] == [
        (f.source, f.size) for f in local.files("shop", "click")
    ]
    read = _read(s3, Ledger())
    assert read == _read(local, Ledger())
    assert [p for batch in read for p in batch[2]] == PAYLOADS[:120] + PAYLOADS[120:] + PAYLOADS[:50]


def test_reading_resumes_where_the_ledger_stopped(sources: list[LandingFileSource]) -> None:
    """The plain file is read from the committed offset on (a ranged GET on S3); compressed files the ledger
    knows of are done."""
    local, s3 = sources
    middle = len(frame(PAYLOADS[:70]))
    ledger = Ledger()
    ledger.record([PositionRange("shop/click/a.pb", 0, middle), PositionRange("shop/click/b.pb.gz", 0, 1)])

    read = _read(s3, ledger)
    assert read == _read(local, ledger)
    first = read[0]
    assert first[1] == PositionRange("shop/click/a.pb", middle, len(frame(PAYLOADS[:120])))
    assert first[2] == PAYLOADS[70:120] and first[3][0] == middle
    assert [batch[0] for batch in read] == ["shop/click/a.pb", "shop/click/c.pb.zst"]

    done = Ledger()
    done.record(batch[1] for batch in read)
    done.record([PositionRange("shop/click/b.pb.gz", 0, 1)])
    assert s3.pending_files("shop", "click", done) == []


def test_a_torn_tail_is_unframed_at_the_same_offset(tmp_path: Path, s3_prefix: str, s3_options: StorageOptions) -> None:
    torn = frame(PAYLOADS[:10]) + b"\xff\xff\xff"
    local, remote = tmp_path / "landing", open_location(f"{s3_prefix}/landing", s3_options)
    (tmp_path / "landing" / "shop" / "click").mkdir(parents=True)
    (tmp_path / "landing" / "shop" / "click" / "t.pb").write_bytes(torn)
    remote.write_bytes("shop/click/t.pb", torn)
    s3 = LandingFileSource(remote)
    [batch] = s3.batches("shop", "click", Ledger())  # an object never grows: its cut-short tail is broken now
    assert [(r.offset, r.payload) for r in batch.unframed] == [(len(frame(PAYLOADS[:10])), b"\xff\xff\xff")]
    assert batch.range.end == len(torn)
    assert _read(s3, Ledger()) == _read(LandingFileSource(local, settle_seconds=0), Ledger())  # a settled file
    [growing] = LandingFileSource(local).batches("shop", "click", Ledger())  # a fresh local file may grow
    assert growing.unframed == [] and growing.range.end == len(frame(PAYLOADS[:10]))
