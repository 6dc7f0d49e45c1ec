"""The `(meshlake.event)` options of a message checked against its fields, so a wrong option fails when a domain loads.

Each problem is one line `file:line: message: option: what is wrong`, the line being the option's
own in the .proto (else the message's): the domain's author fixes it before anything runs, instead
of an ingestion or silver run failing later with an error about a column.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.descriptor_pb2 import FileDescriptorSet

from pipelines.core.proto_schema import TIMESTAMP, EventOptions, is_map
from pipelines.core.schema_version import iter_types
from pipelines.core.source_lines import first_line_below, line_of

PARTITION_TRANSFORMS = ("identity", "day", "month", "year")
_MESSAGE_OPTIONS = 7  # DescriptorProto.options
_KEY_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_STRING,
        FieldDescriptor.TYPE_BYTES,
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


class EventOptionsError(ValueError):
    """An event's options do not fit its message: one line per problem, each with file:line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def check_event_options(
    descriptor: Descriptor,
    options: EventOptions,
    descriptor_set: FileDescriptorSet | None = None,
    file_path: str | None = None,
) -> None:
    """Raise `EventOptionsError` when `event_option_problems` finds any."""
    if problems := event_option_problems(descriptor, options, descriptor_set, file_path):
        raise EventOptionsError(problems)


def event_option_problems(
    descriptor: Descriptor,
    options: EventOptions,
    descriptor_set: FileDescriptorSet | None = None,
    file_path: str | None = None,
) -> list[str]:
    """Every way the event options of `descriptor` do not fit its fields, one line each with file:line.

    Args:
        descriptor: the event's message.
        options: its `(meshlake.event)` option.
        descriptor_set: the compiled files with source info, for the line (without: the file's line 1).
        file_path: the file as the user finds it (default: its import name, `orders/v1/orders.proto`).

    Returns:
        The problems; empty when the options fit.
    """
    where = f"{file_path or descriptor.file.name}:{_line(descriptor, descriptor_set)}: {descriptor.full_name}"
    return [f"{where}: (meshlake.event).{problem}" for problem in _problems(descriptor, options)]


def _problems(descriptor: Descriptor, options: EventOptions) -> Iterator[str]:
    fields = descriptor.fields_by_name
    for option in ("event_id", "entity_key"):
        name = getattr(options, option)
        if name is None:
            continue
        fd = fields.get(name)
        if fd is None:
            yield f"{option}: names {name!r}, which is not a field of the message{_known(descriptor)}"
        elif is_map(fd) or fd.is_repeated:
            yield f"{option}: {name} is {'a map' if is_map(fd) else 'repeated'}; a key holds one value"
        elif fd.type not in _KEY_TYPES:
            yield f"{option}: {name} is {_kind(fd)}; a key is a string, bytes or an integer"
    if options.event_time is not None:
        fd = fields.get(options.event_time)
        if fd is None:
            yield f"event_time: names {options.event_time!r}, which is not a field of the message{_known(descriptor)}"
        elif fd.is_repeated or fd.message_type is None or fd.message_type.full_name != TIMESTAMP:
            yield f"event_time: {options.event_time} is {_kind(fd)}; it must be a {TIMESTAMP}"
    if options.partition is not None:
        yield from _partition_problems(descriptor, options.partition)


def _partition_problems(descriptor: Descriptor, partition: str) -> Iterator[str]:
    transform, paren, rest = partition.partition("(")
    column = rest.removesuffix(")").strip()
    if not paren or not rest.endswith(")") or not column or transform not in PARTITION_TRANSFORMS:
        yield f"partition: {partition!r} must look like <transform>(<field>), transform one of {PARTITION_TRANSFORMS}"
        return
    fd = descriptor.fields_by_name.get(column)
    if fd is None:
        yield f"partition: {partition!r} names {column!r}, which is not a field of the message{_known(descriptor)}"
    elif transform != "identity" and (fd.message_type is None or fd.message_type.full_name != TIMESTAMP):
        yield f"partition: {transform}({column}) needs a {TIMESTAMP} field; {column} is {_kind(fd)}"
    elif transform == "identity" and (fd.is_repeated or fd.type in (fd.TYPE_MESSAGE, fd.TYPE_FLOAT, fd.TYPE_DOUBLE)):
        yield f"partition: identity({column}) needs a single non-float scalar; {column} is {_kind(fd)}"


def _kind(fd: FieldDescriptor) -> str:
    if is_map(fd):
        return "a map"
    what = fd.message_type.full_name if fd.message_type is not None else _TYPE_NAMES.get(fd.type, "a scalar")
    return f"repeated {what}" if fd.is_repeated else f"a {what}" if fd.message_type is not None else what


_TYPE_NAMES = {
    getattr(FieldDescriptor, name): name.removeprefix("TYPE_").lower()
    for name in dir(FieldDescriptor)
    if name.startswith("TYPE_")
}


def _known(descriptor: Descriptor) -> str:
    names = [str(f.name) for f in descriptor.fields]
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f" (fields: {shown})" if names else ""


def _line(descriptor: Descriptor, descriptor_set: FileDescriptorSet | None) -> int:
    """The 1-based line of the message's options in its file, else of the message, else 1."""
    if descriptor_set is None:
        return 1
    decl = next((t for t in iter_types(descriptor_set) if t.full_name == descriptor.full_name), None)
    if decl is None:
        return 1
    return first_line_below(decl.file, (*decl.path, _MESSAGE_OPTIONS)) or line_of(decl.file, decl.path)
