"""Lines of .proto elements, from the source info protoc records (`--include_source_info`)."""

from __future__ import annotations

from google.protobuf.descriptor_pb2 import FileDescriptorProto


def line_of(file: FileDescriptorProto, path: tuple[int, ...]) -> int:
    """The 1-based line of the element at SourceCodeInfo `path`, else of its closest ancestor, else 1."""
    lines = {tuple(loc.path): int(loc.span[0]) + 1 for loc in file.source_code_info.location if loc.span}
    return next((lines[path[:end]] for end in range(len(path), 0, -1) if path[:end] in lines), 1)


def first_line_below(file: FileDescriptorProto, path: tuple[int, ...]) -> int | None:
    """The first line of any element under `path` (e.g. the options of a message), None when there is none."""
    below = [
        int(loc.span[0]) + 1
        for loc in file.source_code_info.location
        if loc.span and tuple(loc.path[: len(path)]) == path
    ]
    return min(below) if below else None
