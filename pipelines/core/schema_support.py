"""Constructs a well-formed schema may use that have no table mapping, found before anything runs.

Every proto3 construct maps to columns (recursive messages to a bounded depth, see
`proto_schema.Recursion`); what is left are proto2 groups and editions' DELIMITED message encoding,
both seen as `TYPE_GROUP` fields. `meshlake schemas check` reports each one as an error with
file:line, like a breaking change.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.descriptor_pb2 import DescriptorProto, FieldDescriptorProto, FileDescriptorSet

from pipelines.core.schema_rules import DEFAULT_IGNORED_PREFIXES, Violation
from pipelines.core.schema_version import iter_types
from pipelines.core.source_lines import line_of

FIELD_NO_GROUP = "FIELD_NO_GROUP"
_MESSAGE_FIELD = 2  # DescriptorProto.field


def unsupported_constructs(
    descriptor_set: FileDescriptorSet,
    *,
    file_prefix: str = "",
    ignored_prefixes: Sequence[str] = (*DEFAULT_IGNORED_PREFIXES, "meshlake/"),
) -> list[Violation]:
    """Every field of the schemas that no table can hold, with its file and line.

    Args:
        descriptor_set: the compiled schemas, with source info.
        file_prefix: prepended to file names, e.g. `"schemas/"`.
        ignored_prefixes: files not checked (the well-known types, meshlake's options).

    Returns:
        The problems, in file order; empty when every message maps.
    """
    found: list[Violation] = []
    for decl in iter_types(descriptor_set):
        if decl.file.name.startswith(tuple(ignored_prefixes)) or not isinstance(decl.proto, DescriptorProto):
            continue
        for index, field in enumerate(decl.proto.field):
            if field.type == FieldDescriptorProto.TYPE_GROUP:
                found.append(
                    Violation(
                        file_prefix + decl.file.name,
                        line_of(decl.file, (*decl.path, _MESSAGE_FIELD, index)),
                        f"{decl.full_name}.{field.name}",
                        FIELD_NO_GROUP,
                        "a group (proto2, or the DELIMITED message encoding of editions) has no table "
                        "mapping; declare a message field instead",
                    )
                )
    return found
