"""Protobuf adapter: .proto files compiled at run time into descriptors, message classes and options."""

from pipelines.adapters.protobuf.compiler import (
    CompiledSchemas,
    SchemaCompileError,
    SchemaError,
    UnknownMessageError,
    compile_schemas,
)
from pipelines.core.proto_schema import EventOptions

__all__ = [
    "CompiledSchemas",
    "EventOptions",
    "SchemaCompileError",
    "SchemaError",
    "UnknownMessageError",
    "compile_schemas",
]
