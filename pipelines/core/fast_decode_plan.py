"""What the fast decoder builds for a message type: one plan per field, derived from descriptor and schema.

A plan is made once per (message type, schema) and reused for every batch. Building it is also
where the fast path says no: types it does not handle (proto2 groups and required fields, field
numbers past `MAX_FIELD_NUMBER`, a schema whose types differ from `arrow_schema`'s at every
recursion depth from 1 to 8) raise `Unsupported`, and the caller uses the reference decoder for the
whole type.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cached_property

import pyarrow as pa
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from pipelines.core.proto_schema import (
    DEFAULT_RECURSION_DEPTH,
    DURATION,
    JSON_TYPES,
    TIMESTAMP,
    WELL_KNOWN_TYPES,
    ProtoSchemaError,
    Recursion,
    arrow_schema,
    enum_names,
    is_flag,
    is_map,
)

F = FieldDescriptor
VARINT_TYPES = frozenset(
    {F.TYPE_INT32, F.TYPE_INT64, F.TYPE_UINT32, F.TYPE_UINT64, F.TYPE_SINT32, F.TYPE_SINT64, F.TYPE_BOOL, F.TYPE_ENUM}
)
FIXED32_TYPES = frozenset({F.TYPE_FIXED32, F.TYPE_SFIXED32, F.TYPE_FLOAT})
FIXED64_TYPES = frozenset({F.TYPE_FIXED64, F.TYPE_SFIXED64, F.TYPE_DOUBLE})
MAX_FIELD_NUMBER = 65_535
"""The scan looks field numbers up in a table this long at most; types using larger ones take the reference."""


class Unsupported(Exception):
    """The fast path does not handle this message type; the reference decoder does."""


class Kind(Enum):
    """How the values of a field are read."""

    SCALAR = "scalar"  # numbers, bool, enum
    TEXT = "text"  # string / bytes
    STRUCT = "struct"  # a nested message -> Arrow struct
    TIMESTAMP = "timestamp"
    DURATION = "duration"
    WRAPPER = "wrapper"  # google.protobuf.*Value -> its value
    JSON = "json"  # google.protobuf.Struct/Value/ListValue -> its JSON text
    FLAG = "flag"  # a message without fields (Empty) -> true
    CUT = "cut"  # a recursive message past its depth -> its serialized bytes
    MAP = "map"


@dataclass(frozen=True)
class FieldPlan:
    """One proto field: where it goes and how to read it.

    Attributes:
        fd: the field descriptor.
        kind: how values are read.
        arrow_type: the Arrow type of the column (of a list/map: the whole list/map type).
        value_type: the Arrow type of one value (a list's element, a map's value; else `arrow_type`).
        output: whether the field is in the schema (else it is only checked, as upb checks it).
        child: the plan of the nested message (struct, Timestamp/Duration/wrapper, map entry).
        enum_names: value number -> name, for enums.
        closed_enum: unknown enum values are not kept by protobuf: such rows go to the reference.
    """

    fd: FieldDescriptor
    kind: Kind
    arrow_type: pa.DataType
    value_type: pa.DataType
    output: bool
    child: MessagePlan | None = None
    enum_names: tuple[tuple[int, str], ...] = ()
    closed_enum: bool = False

    @property
    def number(self) -> int:
        return int(self.fd.number)

    @property
    def repeated(self) -> bool:
        return bool(self.fd.is_repeated) and self.kind is not Kind.MAP

    @property
    def wire_type(self) -> int:
        """The wire type of one unpacked value."""
        ptype = self.fd.type
        return 0 if ptype in VARINT_TYPES else 5 if ptype in FIXED32_TYPES else 1 if ptype in FIXED64_TYPES else 2


@dataclass(frozen=True)
class MessagePlan:
    """Every field of one message type, outputs first in schema order.

    Attributes:
        descriptor: the message type.
        fields: all fields; the first `outputs` are the schema's columns (or struct children) in order.
        outputs: how many leading fields are outputs.
        oneofs: field numbers of each real oneof (two members or more): only the last one set counts.
        map_entry: the plan of a map entry: a missing value reads as the default value, not null.
    """

    descriptor: Descriptor
    fields: tuple[FieldPlan, ...]
    outputs: int
    oneofs: tuple[tuple[int, ...], ...]
    map_entry: bool = False

    @cached_property
    def numbers(self) -> tuple[int, ...]:
        return tuple(f.number for f in self.fields)


def message_plan(descriptor: Descriptor, schema: pa.Schema | pa.StructType) -> MessagePlan:
    """The plan of `descriptor` producing the columns of `schema` (matched by name, like the reference).

    Raises:
        ValueError: the schema names a field the message lacks (the reference's message).
        Unsupported: the fast path does not handle the type or the schema.
    """
    try:
        natural = _natural(descriptor, list(schema))
    except ProtoSchemaError as exc:
        raise Unsupported(str(exc)) from exc
    return _plan(descriptor, list(schema), natural, map_entry=False)


_DEPTHS = (DEFAULT_RECURSION_DEPTH, *range(1, 9))


def _natural(descriptor: Descriptor, wanted: list[pa.Field]) -> dict[str, pa.DataType]:
    """The types `arrow_schema` gives the fields, at the recursion depth the schema was made with (1 to 8).

    A schema made with per-field depths matches none: its type takes the reference decoder.
    """
    for depth in _DEPTHS:
        natural = {f.name: f.type for f in arrow_schema(descriptor, recursion=Recursion(depth))}
        if all(f.name in natural and f.type.equals(natural[f.name]) for f in wanted):
            return natural
        if not any(fd.message_type is not None for fd in descriptor.fields):
            break  # no depth changes a message without message fields
    return {f.name: f.type for f in arrow_schema(descriptor)}


def _plan(
    descriptor: Descriptor, wanted: list[pa.Field], natural: dict[str, pa.DataType], map_entry: bool
) -> MessagePlan:
    plans: list[FieldPlan] = []
    for arrow_field in wanted:
        fd = descriptor.fields_by_name.get(arrow_field.name)
        if fd is None:
            raise ValueError(f"schema field {arrow_field.name!r} is not a field of {descriptor.full_name}")
        if not arrow_field.type.equals(natural[arrow_field.name]):
            raise Unsupported(f"{fd.full_name}: schema type {arrow_field.type} is not {natural[arrow_field.name]}")
        plans.append(_field(fd, arrow_field.type, output=True))
    named = {f.name for f in wanted}
    plans += [_field(fd, natural[fd.name], output=False) for fd in descriptor.fields if fd.name not in named]
    oneofs = tuple(tuple(int(f.number) for f in oneof.fields) for oneof in descriptor.oneofs if len(oneof.fields) > 1)
    return MessagePlan(descriptor, tuple(plans), len(wanted), oneofs, map_entry)


def _field(fd: FieldDescriptor, arrow_type: pa.DataType, output: bool) -> FieldPlan:
    if fd.is_required or fd.type == F.TYPE_GROUP:
        raise Unsupported(f"{fd.full_name}: proto2 required fields and groups take the reference decoder")
    if fd.number > MAX_FIELD_NUMBER:
        raise Unsupported(f"{fd.full_name}: field numbers past {MAX_FIELD_NUMBER} take the reference decoder")
    if is_map(fd):
        entry = fd.message_type
        fields = [pa.field("key", arrow_type.key_type), pa.field("value", arrow_type.item_type)]
        child = _plan(entry, fields, {f.name: f.type for f in fields}, map_entry=True)
        return FieldPlan(fd, Kind.MAP, arrow_type, arrow_type.item_type, output, child)
    value_type = arrow_type.value_type if fd.is_repeated else arrow_type
    if fd.type == F.TYPE_ENUM:
        names = enum_names(fd.enum_type)
        closed = bool(getattr(fd.enum_type, "is_closed", False))
        return FieldPlan(fd, Kind.SCALAR, arrow_type, value_type, output, None, tuple(names.items()), closed)
    if fd.type in (F.TYPE_STRING, F.TYPE_BYTES):
        return FieldPlan(fd, Kind.TEXT, arrow_type, value_type, output)
    if fd.type != F.TYPE_MESSAGE:
        return FieldPlan(fd, Kind.SCALAR, arrow_type, value_type, output)
    message = fd.message_type
    name = str(message.full_name)
    if name in JSON_TYPES:
        return FieldPlan(fd, Kind.JSON, arrow_type, value_type, output)
    if is_flag(message):
        return FieldPlan(fd, Kind.FLAG, arrow_type, value_type, output, _plan(message, [], {}, map_entry=False))
    if name in WELL_KNOWN_TYPES:
        kind = Kind.TIMESTAMP if name == TIMESTAMP else Kind.DURATION if name == DURATION else Kind.WRAPPER
        inner = arrow_schema(message)
        child = _plan(message, list(inner), {f.name: f.type for f in inner}, map_entry=False)
        return FieldPlan(fd, kind, arrow_type, value_type, output, child)
    if pa.types.is_binary(value_type):  # a recursive message past its depth: its bytes
        return FieldPlan(fd, Kind.CUT, arrow_type, value_type, output)
    struct_fields = list(value_type)
    natural = {f.name: f.type for f in value_type}  # checked against the natural type one level up
    child = _plan(message, struct_fields, natural, map_entry=False)
    return FieldPlan(fd, Kind.STRUCT, arrow_type, value_type, output, child)
