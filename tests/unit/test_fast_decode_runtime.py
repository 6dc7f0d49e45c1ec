"""The fast decoder's runtime around the decoding: the reference decoder for small batches, threads
after a fork, the compiled framing loop that feeds it (equal to the general varint reader), and
the cache of compiled kernels."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

import pipelines.core.fast_decode as fast_module
import pipelines.core.fast_decode_wire as fast_wire
import pipelines.core.framing as framing
from pipelines.core.fast_decode import decode_payloads_fast
from pipelines.core.fast_decode_scan import gather_bytes
from pipelines.core.framing import frame, unframe
from pipelines.core.proto_decode import DecodeResult, decode_payloads
from tests.unit.test_fast_decode import KITCHEN, OrderPlaced, Sink, assert_same


def test_small_batches_use_the_reference_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_module, "FAST_MIN_ROWS", 10)
    calls: list[int] = []

    def counted(c: type[Message], rows: Sequence[bytes], s: pa.Schema | None = None) -> DecodeResult:
        calls.append(len(rows))
        return decode_payloads(c, rows, s)

    monkeypatch.setattr(fast_module, "decode_payloads", counted)
    decode_payloads_fast(Sink, [b""] * 3)
    assert calls == [3]


def general_unframe(data: bytes, max_message_bytes: int) -> tuple[list[bytes], list[int], int, str | None]:
    """Frame by frame with the general varint reader only (the original algorithm)."""
    payloads: list[bytes] = []
    offsets: list[int] = []
    pos = 0
    while pos < len(data):
        step = framing._frame(data, pos, max_message_bytes)
        if isinstance(step, framing.FramingError):
            return payloads, offsets, pos, step.reason
        offsets.append(pos)
        payloads.append(data[step[0] : step[1]])
        pos = step[1]
    return payloads, offsets, pos, None


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(st.sampled_from([0, 1, 127, 128, 300, 16383, 16384, 20000]), max_size=8),
    st.integers(0, 40000),
    st.sampled_from([10, 127, 128, 16383, 16384, 64 * 1024 * 1024]),
    st.binary(max_size=12),
)
def test_unframe_matches_the_general_varint_reader(sizes: list[int], cut: int, limit: int, tail: bytes) -> None:
    data = frame([bytes([i % 251]) * n for i, n in enumerate(sizes)])
    data = data[: min(cut, len(data))] + tail
    frames = unframe(data, max_message_bytes=limit)
    payloads, offsets, end, reason = general_unframe(data, limit)
    assert (list(frames.payloads), frames.offsets.tolist(), frames.end) == (payloads, offsets, end)
    assert (frames.error.reason if frames.error else None) == reason
    assert frames.error is None or frames.error.offset == end


PADDED = [bytes([0x83] + [0x80] * k + [0x00]) for k in range(7, 10)]  # the length 3 in 9, 10 and 11 bytes


@pytest.mark.parametrize(
    "data",
    [
        *(prefix + b"abc" + frame([b"next"]) for prefix in PADDED),
        b"\xff" * 8 + b"\x7f" + b"x" * 4,  # 9-byte length 2^63 - 1: exceeds the limit
        b"\xff" * 9 + b"\x7f",  # 10 bytes: a length past 64 bits
        frame([b"a"]) + b"\xff" * 11,  # an over-long varint after a good frame
        frame([b"a"]) + b"\x80",  # a truncated length prefix
    ],
)
def test_unframe_reads_or_explains_long_length_prefixes_like_the_general_reader(data: bytes) -> None:
    frames = unframe(data)
    payloads, offsets, end, reason = general_unframe(data, 64 * 1024 * 1024)
    assert (list(frames.payloads), frames.offsets.tolist(), frames.end) == (payloads, offsets, end)
    assert (frames.error.reason if frames.error else None) == reason


def test_a_forked_child_decodes_with_threads_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_module, "FAST_MIN_ROWS", 0)
    monkeypatch.setattr(fast_module, "PARALLEL_MIN_ROWS", 2)
    batch = [OrderPlaced(order_id=str(i)).SerializeToString() for i in range(8)]
    decode_payloads_fast(OrderPlaced, batch)  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # not pytest-timeout's handler, inherited from the worker
        signal.alarm(30)  # a child waiting on the parent's (absent) threads dies instead of hanging
        os._exit(0 if decode_payloads_fast(OrderPlaced, batch).accepted == list(range(8)) else 1)
    deadline = time.monotonic() + 60  # its alarm ends it first, unless the alarm never came (caught or blocked)
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child still ran after 60 s (killed)")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(done[1]) == 0


def test_chunks_decoded_one_after_another_keep_payload_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_module, "FAST_MIN_ROWS", 0)
    monkeypatch.setattr(fast_module, "CHUNK_ROWS", 3)
    monkeypatch.setattr(fast_module, "PARALLEL_MIN_ROWS", 10**9)
    batch = [OrderPlaced(order_id=str(i), total_cents=i).SerializeToString() for i in range(10)]
    assert_same(OrderPlaced, [*batch[:4], b"\xff", *batch[4:]])


@pytest.mark.parametrize("guess", [1, 10**9], ids=["room-for-all", "no-room-at-first"])
def test_repeated_fields_scan_the_same_whatever_room_is_guessed_first(
    monkeypatch: pytest.MonkeyPatch, guess: int
) -> None:
    """Too little room for the occurrences of repeated fields: the level is scanned again with the bound."""
    monkeypatch.setattr(fast_module, "FAST_MIN_ROWS", 0)
    monkeypatch.setattr(fast_wire, "GUESS_BYTES_PER_OCCURRENCE", guess)
    batch = [Sink(f_int32=i, r_int64=[i, 2], r_string=["a"] * (i % 3)).SerializeToString() for i in range(50)]
    mixed = [b"\xff", Sink(f_int32=1, r_int64=[1]).SerializeToString() + b"\x08\x01", b""]  # bad, twice set, empty
    assert_same(Sink, [*batch[:20], *mixed, *batch[20:]])
    assert decode_payloads_fast(Sink, batch).table.column("r_string").to_pylist() == [
        ["a"] * (i % 3) for i in range(50)
    ]


def test_a_recursive_type_decodes_like_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_module, "FAST_MIN_ROWS", 0)
    forest = KITCHEN.message_class("meshlake.kitchen.v1.Forest")
    deep = forest()
    node = deep.root
    for depth in range(6):
        node.name = f"level {depth}"
        node = node.children.add()
    assert_same(forest, [b"", b"\x0a\x00", b"\xff", deep.SerializeToString()], pa.schema([]))
    assert_same(forest, [b"", b"\x0a\x00", b"\xff", deep.SerializeToString()])


def test_very_long_messages_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_module, "FAST_MIN_ROWS", 0)
    fallbacks: list[int] = []

    def counted(c: type[Message], rows: Sequence[bytes], s: pa.Schema | None = None) -> DecodeResult:
        fallbacks.append(len(rows))
        return decode_payloads(c, rows, s)

    monkeypatch.setattr(fast_module, "decode_payloads", counted)
    long = Sink(r_int64=list(range(1, 3000)), r_string=["x"] * 200)
    unpacked = b"".join(b"\x80\x02" + bytes([i % 100]) for i in range(2000))  # r_int64 (field 32) one tag per value
    batch = [Sink(f_int32=i, r_int64=[i, 2]).SerializeToString() for i in range(300)]
    assert_same(Sink, [*batch[:100], long.SerializeToString(), unpacked, *batch[100:]])
    assert fallbacks == []


DECODE_AND_REPORT = """
import json, sys
import pipelines.core.fast_decode as fast
from pipelines.core.fast_decode_scan import gather_bytes, walk
from pipelines.core.framing import frame_ranges, unframe
from tests.unit.test_fast_decode import OrderPlaced

fast.FAST_MIN_ROWS = 0
events = [OrderPlaced(order_id=str(i), attributes={"k": "v"}).SerializeToString() for i in range(3)]
data = b"".join(len(e).to_bytes(1, "little") + e for e in events)
assert fast.decode_payloads_fast(OrderPlaced, unframe(data).payloads).accepted == [0, 1, 2]
kernels = (walk, gather_bytes, frame_ranges)
print(json.dumps({k.__name__: [sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())] for k in kernels}))
"""


def test_compiled_kernels_are_cached_for_the_next_process(tmp_path: Path) -> None:
    """The first process compiles the kernels into the cache; the next loads them instead of compiling again."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    root = Path(__file__).parents[2]

    def run() -> dict[str, list[int]]:
        done = subprocess.run(
            [sys.executable, "-c", DECODE_AND_REPORT],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        report: dict[str, list[int]] = json.loads(done.stdout)
        return report

    first, second = run(), run()
    assert all(hits == 0 and misses > 0 for hits, misses in first.values()), first
    assert all(hits > 0 and misses == 0 for hits, misses in second.values()), second


def test_gather_bytes_copies_each_string_and_refuses_one_outside_its_buffer() -> None:
    buf = np.frombuffer(b"id-1" + b"x" * 300 + b"ok", np.uint8)
    pos, lengths = np.array([0, 4, 2, 304], np.int64), np.array([4, 300, 0, 2], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    data = np.zeros(int(offsets[-1]), np.uint8)
    gather_bytes(buf, pos, offsets, data)
    assert data.tobytes() == b"id-1" + b"x" * 300 + b"ok"
    for bad_pos, bad_data in (([0, 4, 2, 305], data), ([-1, 4, 2, 304], data), ([0, 4, 2, 304], data[:-1])):
        with pytest.raises(IndexError, match="outside its buffer"):
            gather_bytes(buf, np.array(bad_pos, np.int64), offsets, bad_data)
