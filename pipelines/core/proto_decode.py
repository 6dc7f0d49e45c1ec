"""Reference decoder: serialized protobuf messages to Arrow tables through the protobuf Python API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from pipelines.core.proto_schema import (
    DURATION,
    JSON_TYPES,
    TIMESTAMP,
    WELL_KNOWN_TYPES,
    arrow_schema,
    enum_names,
    is_flag,
    is_map,
    json_text,
)

# Valid google.protobuf.Timestamp / Duration ranges (0001-01-01..9999-12-31, +-10,000 years).
_TS_MIN_SECONDS, _TS_MAX_SECONDS = -62_135_596_800, 253_402_300_799
_DURATION_MAX_SECONDS = 315_576_000_000
_MAX_NANOS = 999_999_999

Reader = Callable[[Any], object]
"""Reads one field of a message (or converts one value) into the Python value `pa.array` takes."""


class RowError(ValueError):
    """A message parsed but a value cannot be represented (e.g. a Timestamp out of range)."""


@dataclass
class DecodeResult:
    """Rows of the payloads that decoded, and why the others did not.

    Attributes:
        table: one row per accepted payload, in payload order.
        accepted: index (into the payloads) of each row of `table`.
        rejected: (payload index, one-line reason) of each payload that made no row.
    """

    table: pa.Table
    accepted: list[int] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)


def decode_payloads(
    message_class: type[Message], payloads: Sequence[bytes], schema: pa.Schema | None = None
) -> DecodeResult:
    """Parse serialized messages and convert them into an Arrow table.

    A payload that protobuf cannot parse, or whose values Arrow cannot hold (a Timestamp or
    Duration outside its valid range), is rejected with a reason; the others become rows.

    Args:
        message_class: the message type of every payload.
        payloads: serialized messages (no length prefix).
        schema: the table schema; default `arrow_schema(message_class.DESCRIPTOR)`. Its columns
            (and struct children) are looked up by name, so it may omit or reorder fields.

    Returns:
        The rows, the indexes they came from, and the rejects.

    Raises:
        ValueError: `schema` names a field the message does not have.
    """
    descriptor = message_class.DESCRIPTOR
    schema = schema if schema is not None else arrow_schema(descriptor)
    readers = _readers(descriptor, schema, str(descriptor.name))
    columns: list[list[object]] = [[] for _ in readers]
    accepted: list[int] = []
    rejected: list[tuple[int, str]] = []
    for index, payload in enumerate(payloads):
        try:
            message = message_class.FromString(payload)
            row = [read(message) for read in readers]
        except DecodeError as exc:
            rejected.append((index, f"protobuf DecodeError: {_one_line(exc)} ({len(payload)} bytes)"))
            continue
        except RowError as exc:
            rejected.append((index, str(exc)))
            continue
        for column, value in zip(columns, row, strict=True):
            column.append(value)
        accepted.append(index)
    return DecodeResult(_table(columns, schema), accepted, rejected)


def messages_to_table(messages: Sequence[Message], schema: pa.Schema) -> pa.Table:
    """Convert messages of one type into an Arrow table.

    Args:
        messages: the messages, all of the same type.
        schema: the table schema, usually `arrow_schema(<descriptor>)`.

    Returns:
        One row per message, in order.

    Raises:
        ValueError: messages of different types, a schema field the message lacks, or a value
            Arrow cannot hold (`RowError`, naming the row and field).
    """
    if not messages:
        return schema.empty_table()
    descriptor = messages[0].DESCRIPTOR
    readers = _readers(descriptor, schema, str(descriptor.name))
    columns: list[list[object]] = [[] for _ in readers]
    for index, message in enumerate(messages):
        if message.DESCRIPTOR is not descriptor:
            raise ValueError(f"message {index} is a {message.DESCRIPTOR.full_name}, expected {descriptor.full_name}")
        try:
            row = [read(message) for read in readers]
        except RowError as exc:
            raise RowError(f"message {index}: {exc}") from exc
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return _table(columns, schema)


def _table(columns: list[list[object]], schema: pa.Schema) -> pa.Table:
    arrays = [pa.array(column, type=f.type) for column, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _readers(descriptor: Descriptor, schema: pa.Schema | pa.StructType, path: str) -> list[Reader]:
    """One reader per Arrow field, matched to the proto field of the same name; `path` names the message
    in errors (`Shipment`, `Shipment.stops[]`)."""
    readers: list[Reader] = []
    for arrow_field in schema:
        fd = descriptor.fields_by_name.get(arrow_field.name)
        if fd is None:
            raise ValueError(f"schema field {arrow_field.name!r} is not a field of {descriptor.full_name}")
        readers.append(_field_reader(fd, arrow_field.type, f"{path}.{fd.name}"))
    return readers


def _field_reader(fd: FieldDescriptor, arrow_type: pa.DataType, path: str) -> Reader:
    name = str(fd.name)
    if is_map(fd):
        entry = fd.message_type
        key = _value_reader(entry.fields_by_name["key"], arrow_type.key_type, f"{path}.key")
        value = _value_reader(entry.fields_by_name["value"], arrow_type.item_type, f"{path}.value")
        # Sorted by key so the reference output is deterministic (protobuf maps have no order).
        return lambda m: [(key(k), value(v)) for k, v in sorted(getattr(m, name).items())]
    if fd.is_repeated:
        element = _value_reader(fd, arrow_type.value_type, f"{path}[]")
        return lambda m: [element(v) for v in getattr(m, name)]
    convert = _value_reader(fd, arrow_type, path)
    if fd.has_presence:
        return lambda m: convert(getattr(m, name)) if m.HasField(name) else None
    return lambda m: convert(getattr(m, name))


def _value_reader(fd: FieldDescriptor, arrow_type: pa.DataType, path: str) -> Reader:
    """Converts one value of `fd` (one element, if repeated) into its Python value; `path` names it in errors
    (`Shipment.stops[].eta`)."""
    if fd.type == FieldDescriptor.TYPE_ENUM:
        names = enum_names(fd.enum_type)
        return lambda v: names.get(v, str(v))
    if fd.type != FieldDescriptor.TYPE_MESSAGE:
        return _identity
    message = fd.message_type
    full_name = str(message.full_name)
    if full_name == TIMESTAMP:
        return lambda v: _timestamp_micros(v, path)
    if full_name == DURATION:
        return lambda v: _duration_micros(v, path)
    if full_name in JSON_TYPES:
        return lambda v: _json(v, path)
    if is_flag(message):
        return _present
    if full_name in WELL_KNOWN_TYPES:
        return _wrapped
    if pa.types.is_binary(arrow_type):  # a recursive message past its depth (`Recursion`)
        return _serialized
    return _struct_reader(message, arrow_type, path, fd)


def _struct_reader(message: Descriptor, arrow_type: pa.DataType, path: str, fd: FieldDescriptor) -> Reader:
    missing = [f.name for f in arrow_type if f.name not in message.fields_by_name]
    if missing:
        raise ValueError(f"schema field {fd.full_name}.{missing[0]} is not a field of {message.full_name}")
    children = [
        (str(f.name), _field_reader(message.fields_by_name[f.name], f.type, f"{path}.{f.name}")) for f in arrow_type
    ]
    return lambda v: {child: read(v) for child, read in children}


def _identity(value: object) -> object:
    return value


def _serialized(value: Message) -> bytes:
    return bytes(value.SerializeToString(deterministic=True))


def _present(value: object) -> bool:
    return True


def _json(value: Message, path: str) -> str:
    try:
        return json_text(value)
    except ValueError as exc:
        raise RowError(f"field {path}: {value.DESCRIPTOR.full_name} has no JSON form ({_one_line(exc)})") from exc


def _wrapped(value: Any) -> object:
    result: object = value.value
    return result


def _timestamp_micros(value: Any, path: str) -> int:
    seconds, nanos = int(value.seconds), int(value.nanos)
    if not (_TS_MIN_SECONDS <= seconds <= _TS_MAX_SECONDS and 0 <= nanos <= _MAX_NANOS):
        raise RowError(f"field {path}: google.protobuf.Timestamp out of range (seconds={seconds}, nanos={nanos})")
    return seconds * 1_000_000 + nanos // 1000


def _duration_micros(value: Any, path: str) -> int:
    seconds, nanos = int(value.seconds), int(value.nanos)
    valid = abs(seconds) <= _DURATION_MAX_SECONDS and abs(nanos) <= _MAX_NANOS
    if not valid or (seconds > 0 > nanos) or (seconds < 0 < nanos):
        raise RowError(
            f"field {path}: google.protobuf.Duration out of range or mixed signs (seconds={seconds}, nanos={nanos})"
        )
    # Toward zero, like Duration.ToTimedelta: -1 ns is 0 us, not -1 us.
    return seconds * 1_000_000 + (nanos // 1000 if nanos >= 0 else -(-nanos // 1000))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
