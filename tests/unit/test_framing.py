"""Varint length-delimited framing: round trips and clear errors on broken streams."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.framing import encode_varint, frame, unframe


@settings(deadline=None)  # the first call may compile the framing kernel (an empty numba cache)
@given(st.lists(st.binary(max_size=300), max_size=50))
def test_frame_then_unframe_returns_the_payloads_and_their_offsets(payloads: list[bytes]) -> None:
    data = frame(payloads)
    frames = unframe(data)
    assert frames.error is None
    assert list(frames.payloads) == payloads
    assert frames.end == len(data)
    expected_offsets, pos = [], 0
    for p in payloads:
        expected_offsets.append(pos)
        pos += len(encode_varint(len(p))) + len(p)
    assert frames.offsets.tolist() == expected_offsets


def test_a_stream_of_more_tiny_frames_than_the_first_guess_of_room_is_framed_whole() -> None:
    """Framing guesses a frame per 64 bytes; thousands of 2-byte frames (and a 10-byte length prefix,
    which the compiled loop leaves to the general reader) take several rounds, in order."""
    payloads = [bytes([i % 256]) for i in range(5_000)]
    empty_with_long_prefix = b"\x80" * 9 + b"\x00"
    data = frame(payloads[:2_500]) + empty_with_long_prefix + frame(payloads[2_500:])

    frames = unframe(data)

    assert frames.error is None and frames.end == len(data)
    assert list(frames.payloads) == [*payloads[:2_500], b"", *payloads[2_500:]]


def test_varint_encoding_matches_the_protobuf_wire_format() -> None:
    assert encode_varint(0) == b"\x00"
    assert encode_varint(1) == b"\x01"
    assert encode_varint(300) == b"\xac\x02"


def test_truncated_frame_stops_at_its_offset_and_keeps_what_came_before() -> None:
    data = frame([b"abc", b"defgh"])
    frames = unframe(data[:-2])
    assert list(frames.payloads) == [b"abc"]
    assert frames.end == 4
    assert frames.error is not None
    assert frames.error.offset == 4
    assert "runs past the end" in str(frames.error)


def test_text_is_not_a_length_delimited_stream() -> None:
    frames = unframe(b"hello, this is a CSV file\n1,2,3\n")
    assert frames.error is not None
    assert frames.error.offset >= 0


def test_oversized_frame_is_refused() -> None:
    data = encode_varint(10_000) + b"x" * 10_000
    frames = unframe(data, max_message_bytes=1000)
    assert list(frames.payloads) == []
    assert "exceeds 1000" in str(frames.error)


def test_resume_from_an_offset() -> None:
    data = frame([b"one", b"two", b"three"])
    first = unframe(data)
    rest = unframe(data, start=first.offsets[1])
    assert list(rest.payloads) == [b"two", b"three"]
