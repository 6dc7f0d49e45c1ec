"""Reading compiled schemas: every type with its path, field descriptions, a message's fingerprint."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from google.protobuf.descriptor_pb2 import (
    DescriptorProto,
    EnumDescriptorProto,
    FieldDescriptorProto,
    FileDescriptorProto,
    FileDescriptorSet,
)

# Field numbers of descriptor.proto used in SourceCodeInfo paths.
FILE_PACKAGE = 2
FILE_MESSAGE = 4
FILE_ENUM = 5
FILE_SYNTAX = 12
MESSAGE_FIELD = 2
MESSAGE_NESTED = 3
MESSAGE_ENUM = 4
ENUM_VALUE = 2

_REFERENCING = frozenset(
    {FieldDescriptorProto.TYPE_MESSAGE, FieldDescriptorProto.TYPE_ENUM, FieldDescriptorProto.TYPE_GROUP}
)


@dataclass(frozen=True)
class TypeDecl:
    """A message or enum declared in a compiled schema file.

    Attributes:
        full_name: fully qualified name without a leading dot, e.g. `meshlake.orders.v1.OrderPlaced`.
        file: the file declaring it.
        path: its SourceCodeInfo path inside `file`, e.g. `(4, 1)` for the second top-level message.
        proto: the declaration itself.
        parent: full name of the enclosing message, `None` for a top-level declaration.
    """

    full_name: str
    file: FileDescriptorProto
    path: tuple[int, ...]
    proto: DescriptorProto | EnumDescriptorProto
    parent: str | None


def iter_types(descriptor_set: FileDescriptorSet) -> Iterator[TypeDecl]:
    """Yield every message and enum of every file, nested ones after their parent (map entries included).

    Args:
        descriptor_set: compiled schemas.

    Returns:
        An iterator over the declarations, in file order.
    """
    for file in descriptor_set.file:
        prefix = f"{file.package}." if file.package else ""
        for i, enum in enumerate(file.enum_type):
            yield TypeDecl(prefix + enum.name, file, (FILE_ENUM, i), enum, None)
        for i, message in enumerate(file.message_type):
            yield from _walk_message(file, prefix + message.name, (FILE_MESSAGE, i), message, None)


def _walk_message(
    file: FileDescriptorProto,
    full_name: str,
    path: tuple[int, ...],
    message: DescriptorProto,
    parent: str | None,
) -> Iterator[TypeDecl]:
    yield TypeDecl(full_name, file, path, message, parent)
    for i, enum in enumerate(message.enum_type):
        yield TypeDecl(f"{full_name}.{enum.name}", file, (*path, MESSAGE_ENUM, i), enum, full_name)
    for i, nested in enumerate(message.nested_type):
        yield from _walk_message(file, f"{full_name}.{nested.name}", (*path, MESSAGE_NESTED, i), nested, full_name)


def schema_fingerprint(descriptor_set: FileDescriptorSet, message_full_name: str) -> str:
    """Return a stable hash of a message's schema and of every message and enum it uses.

    The hash covers the `DescriptorProto` (fields, numbers, types, options, nested types) of the message
    and, transitively, of the types its fields refer to, each with its full name. Comments live in the
    file's SourceCodeInfo, which is not hashed, so a comment-only change keeps the fingerprint; moving a
    type to another file keeps it too.

    Args:
        descriptor_set: compiled schemas holding the message and its dependencies (`--include_imports`).
        message_full_name: e.g. `meshlake.orders.v1.OrderPlaced` (a leading dot is accepted).

    Returns:
        The sha256 hex digest.

    Raises:
        KeyError: the message, or a type it uses, is not in `descriptor_set`.
    """
    types = {decl.full_name: decl.proto for decl in iter_types(descriptor_set)}
    root = message_full_name.lstrip(".")
    if not isinstance(types.get(root), DescriptorProto):
        raise KeyError(f"message {root!r} is not in the descriptor set")
    seen: set[str] = set()
    pending = [root]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        if name not in types:
            raise KeyError(f"type {name!r} used by {root!r} is not in the descriptor set")
        seen.add(name)
        proto = types[name]
        if isinstance(proto, DescriptorProto):
            pending.extend(_referenced_types(proto))
    digest = hashlib.sha256()
    for name in sorted(seen):
        data = types[name].SerializeToString(deterministic=True)
        for chunk in (name.encode(), len(data).to_bytes(8, "big"), data):
            digest.update(chunk)
    return digest.hexdigest()


def _referenced_types(message: DescriptorProto) -> Iterator[str]:
    for field in message.field:
        if field.type in _REFERENCING:
            yield field.type_name.lstrip(".")
    for nested in message.nested_type:
        yield from _referenced_types(nested)


FieldType = str | tuple[str, "FieldType", "FieldType"]
"""A field's type: a scalar name (`int64`), a message or enum full name, or `("map", key, value)`."""


def field_type(field: FieldDescriptorProto, types: Mapping[str, TypeDecl]) -> FieldType:
    """Describe the type of `field` (its element type when repeated).

    Args:
        field: the field.
        types: the declarations of the schemas holding it, by full name (to recognise map entries).

    Returns:
        The scalar name, the referenced type's full name, or `("map", key, value)` for a map field.
    """
    if field.type not in _REFERENCING:
        return str(FieldDescriptorProto.Type.Name(field.type)).removeprefix("TYPE_").lower()
    name = str(field.type_name).lstrip(".")
    decl = types.get(name)
    if decl is not None and isinstance(decl.proto, DescriptorProto) and decl.proto.options.map_entry:
        key, value = sorted(decl.proto.field, key=lambda f: f.number)
        return ("map", field_type(key, types), field_type(value, types))
    return name


def render_type(kind: FieldType) -> str:
    """Spell a field type as a .proto does: `int64`, `meshlake.orders.v1.LineItem`, `map<string, string>`."""
    return f"map<{render_type(kind[1])}, {render_type(kind[2])}>" if isinstance(kind, tuple) else kind


def json_name(field: FieldDescriptorProto) -> str:
    """The field's JSON name: its `json_name` (protoc always sets it), else the lowerCamelCase name."""
    if field.HasField("json_name"):
        return str(field.json_name)
    head, *rest = str(field.name).split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def cardinality(field: FieldDescriptorProto) -> str:
    """`repeated` (maps included), `required` (proto2) or `singular` (with or without presence)."""
    if field.label == FieldDescriptorProto.LABEL_REPEATED:
        return "repeated"
    return "required" if field.label == FieldDescriptorProto.LABEL_REQUIRED else "singular"


def real_oneof(message: DescriptorProto, field: FieldDescriptorProto) -> str | None:
    """The oneof `field` belongs to; `None` outside a oneof or for a proto3 `optional` (synthetic) oneof."""
    if not field.HasField("oneof_index") or field.proto3_optional:
        return None
    return str(message.oneof_decl[field.oneof_index].name)
