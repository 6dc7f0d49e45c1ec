"""Protobuf message descriptors mapped to Arrow schemas, plus the meshlake event options type."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

import pyarrow as pa
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

FIELD_ID_KEY: Final = b"PARQUET:field_id"
DOC_KEY: Final = b"doc"
LIST_ELEMENT: Final = "element"

TIMESTAMP: Final = "google.protobuf.Timestamp"
DURATION: Final = "google.protobuf.Duration"
JSON_TYPES: Final = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})
"""Recursive well-known types of JSON data, kept as their protobuf JSON text (`json_text`)."""

WELL_KNOWN_TYPES: Final[Mapping[str, pa.DataType]] = MappingProxyType(
    {
        TIMESTAMP: pa.timestamp("us", tz="UTC"),
        DURATION: pa.duration("us"),
        "google.protobuf.DoubleValue": pa.float64(),
        "google.protobuf.FloatValue": pa.float32(),
        "google.protobuf.Int64Value": pa.int64(),
        "google.protobuf.UInt64Value": pa.uint64(),
        "google.protobuf.Int32Value": pa.int32(),
        "google.protobuf.UInt32Value": pa.uint32(),
        "google.protobuf.BoolValue": pa.bool_(),
        "google.protobuf.StringValue": pa.string(),
        "google.protobuf.BytesValue": pa.binary(),
        **dict.fromkeys(JSON_TYPES, pa.string()),
    }
)
"""Messages that map to one Arrow scalar instead of a struct (wrappers map to their `value`, JSON types
to their JSON text). A message without fields (`google.protobuf.Empty`) maps to a boolean (`is_flag`)."""

_SCALARS: Final[Mapping[int, pa.DataType]] = MappingProxyType(
    {
        FieldDescriptor.TYPE_DOUBLE: pa.float64(),
        FieldDescriptor.TYPE_FLOAT: pa.float32(),
        FieldDescriptor.TYPE_INT64: pa.int64(),
        FieldDescriptor.TYPE_UINT64: pa.uint64(),
        FieldDescriptor.TYPE_INT32: pa.int32(),
        FieldDescriptor.TYPE_FIXED64: pa.uint64(),
        FieldDescriptor.TYPE_FIXED32: pa.uint32(),
        FieldDescriptor.TYPE_BOOL: pa.bool_(),
        FieldDescriptor.TYPE_STRING: pa.string(),
        FieldDescriptor.TYPE_BYTES: pa.binary(),
        FieldDescriptor.TYPE_UINT32: pa.uint32(),
        FieldDescriptor.TYPE_SFIXED32: pa.int32(),
        FieldDescriptor.TYPE_SFIXED64: pa.int64(),
        FieldDescriptor.TYPE_SINT32: pa.int32(),
        FieldDescriptor.TYPE_SINT64: pa.int64(),
    }
)


class ProtoSchemaError(ValueError):
    """A message cannot be mapped to Arrow (proto2 group); the text is one line."""


@dataclass(frozen=True)
class EventOptions:
    """The `(meshlake.event)` option of a message; None where the .proto does not say.

    Attributes:
        event_id: field holding the unique event id (deduplication key).
        entity_key: field holding the key of the entity the event is about.
        event_time: Timestamp field holding when the event happened.
        partition: partition transform of bronze, e.g. `day(placed_at)`.
    """

    event_id: str | None = None
    entity_key: str | None = None
    event_time: str | None = None
    partition: str | None = None


def is_map(field: FieldDescriptor) -> bool:
    """Whether `field` is a proto `map<K, V>` (a repeated synthetic map-entry message)."""
    return bool(
        field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry and _is_repeated(field)
    )


def is_struct(field: FieldDescriptor) -> bool:
    """Whether values of `field` (elements, if repeated) map to an Arrow struct of their own fields."""
    return (
        field.type == FieldDescriptor.TYPE_MESSAGE
        and not is_map(field)
        and field.message_type.full_name not in WELL_KNOWN_TYPES
        and not is_flag(field.message_type)
    )


def is_flag(message: Descriptor) -> bool:
    """Whether `message` has no fields (like `google.protobuf.Empty`): it maps to a boolean, true where set.

    Parquet cannot store a struct without fields; such a message carries nothing but its presence.
    """
    return not message.fields


def enum_names(enum: EnumDescriptor) -> dict[int, str]:
    """Enum value number -> name; of aliases (`allow_alias`) the first declared, as protobuf's JSON writes it."""
    names: dict[int, str] = {}
    for value in enum.values:
        names.setdefault(int(value.number), str(value.name))
    return names


def json_text(message: Message) -> str:
    """The protobuf JSON of a Struct, Value or ListValue, compact; `json_format.Parse` reads it back.

    Raises:
        ValueError: the message holds a number JSON cannot write (NaN, infinity).
    """
    try:
        value = json_format.MessageToDict(message)
    except json_format.Error as exc:
        raise ValueError(str(exc)) from exc
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def field_numbers(descriptor: Descriptor) -> dict[str, int]:
    """Top-level field name -> proto field number (the Iceberg field id of the column)."""
    return {str(f.name): int(f.number) for f in descriptor.fields}


DEFAULT_RECURSION_DEPTH: Final = 3
"""Levels of a recursive message kept as columns when neither the field nor the domain says."""


@dataclass(frozen=True)
class Recursion:
    """How deep recursive messages (a tree node, a JSON-like value) become columns.

    A message field whose type is already `depth` times on the path from the root is cut: its
    column is `binary`, each value the message serialized deterministically (`Message.FromString`
    reads it back, unknown fields included), so nothing below the cut is lost.

    Attributes:
        depth: levels of each recursive type kept as columns (1: the type once, its first
            recursive field cut), unless `fields` says otherwise.
        fields: full field name (`pkg.Node.children`) -> its own depth (`(meshlake.field).recursion_depth`).
    """

    depth: int = DEFAULT_RECURSION_DEPTH
    fields: Mapping[str, int] = field(default_factory=dict)

    def cuts(self, fd: FieldDescriptor, stack: tuple[str, ...]) -> bool:
        """Whether the message field `fd`, reached through the types `stack`, is kept as bytes."""
        name = str(fd.message_type.full_name)
        return name in stack and stack.count(name) >= self.fields.get(str(fd.full_name), self.depth)


def arrow_schema(
    descriptor: Descriptor, docs: Mapping[str, str] | None = None, recursion: Recursion = Recursion()
) -> pa.Schema:
    """The Arrow schema rows of `descriptor` decode into.

    Plain proto3 scalars and enums are non-nullable (proto3 defaults); fields with presence
    (`optional`, oneof members, messages, wrappers, Timestamp, Duration) are nullable; repeated
    fields are non-null lists of non-null elements and maps are non-null `map<key, value>` with
    non-null values. Enums become their value names (of aliases the first declared), Struct, Value and
    ListValue their protobuf JSON text, messages without fields (Empty) a boolean, a recursive message
    past its depth its serialized bytes (`Recursion`). Every field carries `PARQUET:field_id` = its
    proto number (map keys 1, values 2; list elements carry none) and, when `docs` has its path,
    `doc` = the comment.

    Args:
        descriptor: the message type.
        docs: dotted field path (`items.sku`, map values `counts.value.x`) -> comment.
        recursion: how deep recursive messages become columns.

    Returns:
        The schema, one top-level field per proto field in declaration order.

    Raises:
        ProtoSchemaError: the message uses a proto2 group.
    """
    walk = _Walk(str(descriptor.full_name), docs or {}, recursion)
    return pa.schema(walk.fields(descriptor, "", (str(descriptor.full_name),)))


@dataclass(frozen=True)
class _Walk:
    root: str
    docs: Mapping[str, str]
    recursion: Recursion

    def fields(self, descriptor: Descriptor, prefix: str, stack: tuple[str, ...]) -> list[pa.Field]:
        return [self.field(f, prefix + str(f.name), stack) for f in descriptor.fields]

    def field(self, fd: FieldDescriptor, path: str, stack: tuple[str, ...]) -> pa.Field:
        if is_map(fd):
            entry = fd.message_type
            key = self.field(entry.fields_by_name["key"], f"{path}.key", stack).with_nullable(False)
            value = self.field(entry.fields_by_name["value"], f"{path}.value", stack).with_nullable(False)
            typ: pa.DataType = pa.map_(key, value)
            nullable = False
        elif _is_repeated(fd):
            typ = pa.list_(pa.field(LIST_ELEMENT, self.value_type(fd, path, stack), nullable=False))
            nullable = False
        else:
            typ = self.value_type(fd, path, stack)
            nullable = bool(fd.has_presence)
        return pa.field(str(fd.name), typ, nullable=nullable, metadata=self.metadata(fd, path))

    def value_type(self, fd: FieldDescriptor, path: str, stack: tuple[str, ...]) -> pa.DataType:
        if fd.type == FieldDescriptor.TYPE_ENUM:
            return pa.string()
        if fd.type == FieldDescriptor.TYPE_GROUP:
            raise ProtoSchemaError(f"{self.root}.{path}: proto2 groups are not supported")
        if fd.type != FieldDescriptor.TYPE_MESSAGE:
            return _SCALARS[int(fd.type)]
        name = str(fd.message_type.full_name)
        if name in WELL_KNOWN_TYPES:
            return WELL_KNOWN_TYPES[name]
        if is_flag(fd.message_type):
            return pa.bool_()
        if self.recursion.cuts(fd, stack):
            return pa.binary()
        return pa.struct(self.fields(fd.message_type, f"{path}.", (*stack, name)))

    def metadata(self, fd: FieldDescriptor, path: str) -> dict[bytes, bytes]:
        meta = {FIELD_ID_KEY: str(int(fd.number)).encode()}
        doc = self.docs.get(path)
        if doc:
            meta[DOC_KEY] = doc.encode()
        return meta


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)
