"""Hypothesis strategies of protobuf messages shared by the decoder tests: any message type, random valid values.

Integers reach both ends of their range, open enums get unknown values (closed ones only known
values), maps, repeated fields and nested messages filled (lists of messages two levels deep).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

from pipelines.core.proto_schema import is_map

T = FieldDescriptor

INTS = dict.fromkeys((T.TYPE_INT32, T.TYPE_SINT32, T.TYPE_SFIXED32), (-(2**31), 2**31 - 1))
INTS |= dict.fromkeys((T.TYPE_INT64, T.TYPE_SINT64, T.TYPE_SFIXED64), (-(2**63), 2**63 - 1))
INTS |= dict.fromkeys((T.TYPE_UINT32, T.TYPE_FIXED32), (0, 2**32 - 1))
INTS |= dict.fromkeys((T.TYPE_UINT64, T.TYPE_FIXED64), (0, 2**64 - 1))
MAX_DEPTH = 5
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)


def scalars(fd: FieldDescriptor) -> st.SearchStrategy[Any]:
    """Valid values of a scalar or enum field, edge values favoured."""
    if fd.type in INTS:
        return st.one_of(st.integers(*INTS[fd.type]), st.sampled_from([0, 1, INTS[fd.type][0]]))
    if fd.containing_type.full_name == "google.protobuf.Value" and fd.type == T.TYPE_DOUBLE:
        return st.floats(allow_nan=False, allow_infinity=False)  # JSON has no infinity: such a Value is refused
    if fd.type == T.TYPE_ENUM:  # known values and unknown ones (open enums keep them)
        known = [v.number for v in fd.enum_type.values]
        return st.sampled_from(known if fd.enum_type.is_closed else [*known, 99, -1])
    return {
        T.TYPE_FLOAT: st.floats(width=32, allow_nan=False),
        T.TYPE_DOUBLE: st.floats(allow_nan=False),
        T.TYPE_BOOL: st.booleans(),
        T.TYPE_STRING: TEXT,
        T.TYPE_BYTES: st.binary(max_size=8),
    }[fd.type]


def fill(draw: st.DrawFn, message: Message, depth: int = 0) -> None:
    """Set a random subset of the fields of `message` to random valid values."""
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        message.seconds = draw(st.integers(-62_135_596_800, 253_402_300_799))
        message.nanos = draw(st.integers(0, 999_999_999))
        return
    if name == "google.protobuf.Duration":
        seconds = draw(st.integers(-315_576_000_000, 315_576_000_000))
        nanos = draw(st.integers(0, 999_999_999))
        message.seconds, message.nanos = seconds, (-nanos if seconds < 0 else nanos)
        return
    if depth > MAX_DEPTH:  # recursive types (Struct, Value) stop somewhere
        return
    for fd in message.DESCRIPTOR.fields:
        if not draw(st.booleans()):
            continue
        value = getattr(message, fd.name)
        if is_map(fd):
            key_fd, value_fd = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
            for key in draw(st.lists(scalars(key_fd), max_size=3)):
                if value_fd.type == T.TYPE_MESSAGE:
                    fill(draw, value[key], depth + 1)
                else:
                    value[key] = draw(scalars(value_fd))
        elif fd.is_repeated and fd.type == T.TYPE_MESSAGE:
            for _ in range(draw(st.integers(0, 3 if depth < 2 else 0))):
                fill(draw, value.add(), depth + 1)
        elif fd.is_repeated:
            value.extend(draw(st.lists(scalars(fd), max_size=4)))
        elif fd.type == T.TYPE_MESSAGE:
            value.SetInParent()
            fill(draw, value, depth + 1)
        else:
            setattr(message, fd.name, draw(scalars(fd)))


@st.composite
def messages(draw: st.DrawFn, cls: type[Message]) -> Message:
    """A message of `cls` with a random subset of its fields set."""
    message = cls()
    fill(draw, message)
    return message
