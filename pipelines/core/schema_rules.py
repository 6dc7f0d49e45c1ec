"""Breaking-change rules between two versions of the schemas (buf's WIRE_JSON category plus table rules)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from google.protobuf.descriptor_pb2 import (
    DescriptorProto,
    EnumDescriptorProto,
    FieldDescriptorProto,
    FileDescriptorProto,
    FileDescriptorSet,
)

from pipelines.core.schema_version import (
    ENUM_VALUE,
    FILE_PACKAGE,
    FILE_SYNTAX,
    MESSAGE_FIELD,
    FieldType,
    TypeDecl,
    cardinality,
    field_type,
    iter_types,
    json_name,
    real_oneof,
    render_type,
)


class Rule(StrEnum):
    """Rule ids, buf's where buf has the rule (https://buf.build/docs/breaking/rules).

    buf keys fields and enum values by number, so buf reports a renumbered field as a deletion; meshlake
    reports it as FIELD_SAME_NUMBER / ENUM_VALUE_SAME_NUMBER instead (its own ids). A deletion with
    neither the number nor the name reserved is one FIELD_NO_DELETE / ENUM_VALUE_NO_DELETE line; with
    one of them reserved, buf's `_UNLESS_NUMBER_RESERVED` / `_UNLESS_NAME_RESERVED` id names the missing
    one. A field renamed at the same number is FIELD_SAME_NAME alone (its JSON name changes with it);
    FIELD_SAME_JSON_NAME is for a changed `json_name` option. FILE/PACKAGE/MESSAGE/ENUM_NO_DELETE come
    from buf's FILE and PACKAGE categories: a bronze table hangs off every event message, so meshlake
    refuses them although WIRE_JSON would not. A deleted file or package is one line, not one per type
    (a type moved to another file is fine, the file deletion is still refused); a renamed message is a
    MESSAGE_NO_DELETE.

    FIELD_SAME_TYPE allows meshlake's table widenings int32→int64, uint32→uint64 and float→double (an
    Iceberg/Delta type promotion) although buf refuses them: float→double is not even wire compatible,
    so events written with the old schema must be decoded with the old schema.
    """

    FILE_NO_DELETE = "FILE_NO_DELETE"
    FILE_SAME_SYNTAX = "FILE_SAME_SYNTAX"
    PACKAGE_NO_DELETE = "PACKAGE_NO_DELETE"
    MESSAGE_NO_DELETE = "MESSAGE_NO_DELETE"
    ENUM_NO_DELETE = "ENUM_NO_DELETE"
    FIELD_NO_DELETE = "FIELD_NO_DELETE"
    FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED = "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED"
    FIELD_NO_DELETE_UNLESS_NAME_RESERVED = "FIELD_NO_DELETE_UNLESS_NAME_RESERVED"
    FIELD_SAME_NUMBER = "FIELD_SAME_NUMBER"
    FIELD_SAME_NAME = "FIELD_SAME_NAME"
    FIELD_SAME_JSON_NAME = "FIELD_SAME_JSON_NAME"
    FIELD_SAME_TYPE = "FIELD_SAME_TYPE"
    FIELD_SAME_CARDINALITY = "FIELD_SAME_CARDINALITY"
    FIELD_SAME_ONEOF = "FIELD_SAME_ONEOF"
    ENUM_VALUE_NO_DELETE = "ENUM_VALUE_NO_DELETE"
    ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED = "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED"
    ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED = "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED"
    ENUM_VALUE_SAME_NUMBER = "ENUM_VALUE_SAME_NUMBER"
    ENUM_VALUE_SAME_NAME = "ENUM_VALUE_SAME_NAME"
    RESERVED_MESSAGE_NO_DELETE = "RESERVED_MESSAGE_NO_DELETE"
    RESERVED_ENUM_NO_DELETE = "RESERVED_ENUM_NO_DELETE"


ALLOWED_WIDENINGS = frozenset({("int32", "int64"), ("uint32", "uint64"), ("float", "double")})
"""Type changes FIELD_SAME_TYPE accepts: the table column is promoted in place."""

DEFAULT_IGNORED_PREFIXES = ("google/protobuf/",)


@dataclass(frozen=True, order=True)
class Violation:
    """One breaking change, located in the new schemas."""

    file: str
    line: int
    element: str  # "meshlake.orders.v1.OrderPlaced.total_cents"
    rule: str  # a `Rule` id, e.g. FIELD_SAME_TYPE
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.element}: {self.rule}: {self.message}"


def check_compatibility(
    old: FileDescriptorSet,
    new: FileDescriptorSet,
    *,
    file_prefix: str = "",
    ignored_prefixes: Sequence[str] = DEFAULT_IGNORED_PREFIXES,
) -> list[Violation]:
    """Compare two compiled versions of the schemas and list every breaking change.

    Files are matched by name, types by full name (a type may move between files), fields and enum
    values by number. Lines are 1-based lines of the new file (for a deletion: the line of the enclosing
    message, enum or package statement); a deleted file is reported at its line 1.

    Args:
        old: the schemas in use (e.g. at the last release), compiled with source info.
        new: the proposed schemas, compiled with source info.
        file_prefix: prepended to file names in violations, e.g. `"schemas/"`.
        ignored_prefixes: files whose name starts with one of these are not checked (well-known types).

    Returns:
        The violations sorted by file, line and element; empty when the change is compatible.
    """
    before, after = _Schemas(old, ignored_prefixes), _Schemas(new, ignored_prefixes)
    found = [*_check_files(before, after), *_check_types(before, after)]
    return sorted(dataclasses.replace(v, file=file_prefix + v.file) for v in found)


@dataclass(frozen=True)
class _At:
    """Where a violation is reported: file, line and element."""

    file: str
    line: int
    element: str

    def __call__(self, rule: Rule, text: str) -> Violation:
        return Violation(self.file, self.line, self.element, rule, text)


class _Schemas:
    """The checked files and types of one version, indexed by name."""

    def __init__(self, descriptor_set: FileDescriptorSet, ignored_prefixes: Sequence[str]) -> None:
        ignored = tuple(ignored_prefixes)
        self.files = {f.name: f for f in descriptor_set.file if not f.name.startswith(ignored)}
        self.all_types = {t.full_name: t for t in iter_types(descriptor_set)}
        self.types = {n: t for n, t in self.all_types.items() if not t.file.name.startswith(ignored)}
        self.packages = {f.package for f in self.files.values()}
        self._lines: dict[str, dict[tuple[int, ...], int]] = {}

    def at(self, decl: TypeDecl | FileDescriptorProto, path: tuple[int, ...], element: str) -> _At:
        """Locate `path` inside `decl`: its 1-based line, else its closest ancestor's, else line 1."""
        file = decl if isinstance(decl, FileDescriptorProto) else decl.file
        path = path if isinstance(decl, FileDescriptorProto) else (*decl.path, *path)
        if file.name not in self._lines:
            locations = file.source_code_info.location
            self._lines[file.name] = {tuple(loc.path): loc.span[0] + 1 for loc in locations if loc.span}
        lines = self._lines[file.name]
        line = next((lines[path[:end]] for end in range(len(path), 0, -1) if path[:end] in lines), 1)
        return _At(str(file.name), line, element)


def _check_files(before: _Schemas, after: _Schemas) -> Iterator[Violation]:
    for name, old in before.files.items():
        new = after.files.get(name)
        if new is None:
            yield _At(name, 1, old.package or name)(Rule.FILE_NO_DELETE, f"file {name} deleted")
            continue
        old_syntax, new_syntax = old.syntax or "proto2", new.syntax or "proto2"
        if (old_syntax, old.edition) != (new_syntax, new.edition):
            at = after.at(new, (FILE_SYNTAX,), new.package or name)
            yield at(Rule.FILE_SAME_SYNTAX, f"syntax changed from {old_syntax} to {new_syntax}")
        if old.package != new.package and old.package not in after.packages:
            at = after.at(new, (FILE_PACKAGE,), old.package)
            yield at(Rule.PACKAGE_NO_DELETE, f"package deleted (renamed to {new.package or '<none>'}?)")
    for package in sorted(before.packages - after.packages):
        files = sorted(f.name for f in before.files.values() if f.package == package)
        if not any(name in after.files for name in files):
            yield _At(files[0], 1, package)(Rule.PACKAGE_NO_DELETE, "package deleted")


def _check_types(before: _Schemas, after: _Schemas) -> Iterator[Violation]:
    for name, old in before.types.items():
        new = after.types.get(name)
        if new is None:
            yield from _deleted_type(after, old)
        elif isinstance(old.proto, DescriptorProto) and isinstance(new.proto, DescriptorProto):
            if not old.proto.options.map_entry:
                yield from _check_message(before, after, old.proto, new, new.proto)
        elif isinstance(old.proto, EnumDescriptorProto) and isinstance(new.proto, EnumDescriptorProto):
            yield from _check_enum(after, old.proto, new, new.proto)
        elif isinstance(old.proto, DescriptorProto):
            yield after.at(new, (), name)(Rule.MESSAGE_NO_DELETE, "message replaced by an enum")
        else:
            yield after.at(new, (), name)(Rule.ENUM_NO_DELETE, "enum replaced by a message")


def _deleted_type(after: _Schemas, old: TypeDecl) -> Iterator[Violation]:
    """A deleted message or enum, unless its file, package or enclosing message is reported already."""
    if old.file.name not in after.files or old.file.package not in after.packages:
        return
    if isinstance(old.proto, DescriptorProto) and old.proto.options.map_entry:
        return  # a map field's entry: the field's type check reports it
    if old.parent is None:
        at = after.at(after.files[old.file.name], (FILE_PACKAGE,), old.full_name)
    elif old.parent in after.types:
        at = after.at(after.types[old.parent], (), old.full_name)
    else:
        return
    if isinstance(old.proto, DescriptorProto):
        yield at(Rule.MESSAGE_NO_DELETE, "message deleted (or renamed)")
    else:
        yield at(Rule.ENUM_NO_DELETE, "enum deleted (or renamed)")


def _check_message(
    before: _Schemas, after: _Schemas, old: DescriptorProto, new_decl: TypeDecl, new: DescriptorProto
) -> Iterator[Violation]:
    name = new_decl.full_name
    new_fields = {f.number: (i, f) for i, f in enumerate(new.field)}
    new_by_name = {f.name: (i, f) for i, f in enumerate(new.field)}
    for old_field in old.field:
        number = old_field.number
        if number in new_fields:
            i, new_field = new_fields[number]
            at = after.at(new_decl, (MESSAGE_FIELD, i), f"{name}.{new_field.name}")
            yield from _compare_fields(before, after, at, (old, old_field), (new, new_field))
        elif old_field.name in new_by_name:
            i, moved = new_by_name[old_field.name]
            at = after.at(new_decl, (MESSAGE_FIELD, i), f"{name}.{moved.name}")
            yield at(Rule.FIELD_SAME_NUMBER, f"number changed from {number} to {moved.number}")
        else:
            yield from _deleted(
                after.at(new_decl, (), f"{name}.{old_field.name}"),
                _FIELD_DELETE_RULES,
                number_reserved=any(r.start <= number < r.end for r in new.reserved_range),
                name_reserved=old_field.name in new.reserved_name,
                number=number,
                name=old_field.name,
            )
    yield from _reservations(
        after.at(new_decl, (), name)(Rule.RESERVED_MESSAGE_NO_DELETE, ""),
        [(r.start, r.end - 1) for r in old.reserved_range],
        [(r.start, r.end - 1) for r in new.reserved_range],
        set(old.reserved_name) - set(new.reserved_name),
    )


def _compare_fields(
    before: _Schemas,
    after: _Schemas,
    at: _At,
    old: tuple[DescriptorProto, FieldDescriptorProto],
    new: tuple[DescriptorProto, FieldDescriptorProto],
) -> Iterator[Violation]:
    (old_message, old_field), (new_message, new_field) = old, new
    if old_field.name != new_field.name:
        yield at(
            Rule.FIELD_SAME_NAME,
            f"field {old_field.number} renamed from {old_field.name} to {new_field.name}",
        )
    elif json_name(old_field) != json_name(new_field):
        text = f"json_name changed from {json_name(old_field)} to {json_name(new_field)}"
        yield at(Rule.FIELD_SAME_JSON_NAME, text)
    old_type, new_type = field_type(old_field, before.all_types), field_type(new_field, after.all_types)
    if not _same_type(old_type, new_type):
        yield at(Rule.FIELD_SAME_TYPE, f"type changed from {render_type(old_type)} to {render_type(new_type)}")
    old_card, new_card = cardinality(old_field), cardinality(new_field)
    if old_card != new_card:
        yield at(Rule.FIELD_SAME_CARDINALITY, f"cardinality changed from {old_card} to {new_card}")
    old_oneof, new_oneof = real_oneof(old_message, old_field), real_oneof(new_message, new_field)
    if old_oneof != new_oneof:
        text = f"moved from oneof {old_oneof} to {new_oneof}"
        if old_oneof is None:
            text = f"moved into oneof {new_oneof}"
        elif new_oneof is None:
            text = f"moved out of oneof {old_oneof}"
        yield at(Rule.FIELD_SAME_ONEOF, text)


def _check_enum(
    after: _Schemas, old: EnumDescriptorProto, new_decl: TypeDecl, new: EnumDescriptorProto
) -> Iterator[Violation]:
    name = new_decl.full_name
    new_values: dict[int, list[tuple[int, str]]] = {}
    for i, value in enumerate(new.value):
        new_values.setdefault(value.number, []).append((i, value.name))
    new_by_name = {value.name: (i, value.number) for i, value in enumerate(new.value)}
    for old_value in old.value:
        number = old_value.number
        if number in new_values:
            if old_value.name not in {n for _, n in new_values[number]}:
                i, new_name = new_values[number][0]
                at = after.at(new_decl, (ENUM_VALUE, i), f"{name}.{new_name}")
                yield at(Rule.ENUM_VALUE_SAME_NAME, f"value {number} renamed from {old_value.name} to {new_name}")
        elif old_value.name in new_by_name:
            i, moved = new_by_name[old_value.name]
            at = after.at(new_decl, (ENUM_VALUE, i), f"{name}.{old_value.name}")
            yield at(Rule.ENUM_VALUE_SAME_NUMBER, f"number changed from {number} to {moved}")
        else:
            yield from _deleted(
                after.at(new_decl, (), f"{name}.{old_value.name}"),
                _ENUM_VALUE_DELETE_RULES,
                number_reserved=any(r.start <= number <= r.end for r in new.reserved_range),
                name_reserved=old_value.name in new.reserved_name,
                number=number,
                name=old_value.name,
            )
    yield from _reservations(
        after.at(new_decl, (), name)(Rule.RESERVED_ENUM_NO_DELETE, ""),
        [(r.start, r.end) for r in old.reserved_range],
        [(r.start, r.end) for r in new.reserved_range],
        set(old.reserved_name) - set(new.reserved_name),
    )


_FIELD_DELETE_RULES = (
    Rule.FIELD_NO_DELETE,
    Rule.FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED,
    Rule.FIELD_NO_DELETE_UNLESS_NAME_RESERVED,
)
_ENUM_VALUE_DELETE_RULES = (
    Rule.ENUM_VALUE_NO_DELETE,
    Rule.ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED,
    Rule.ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED,
)


def _deleted(
    at: _At,
    rules: tuple[Rule, Rule, Rule],
    *,
    number_reserved: bool,
    name_reserved: bool,
    number: int,
    name: str,
) -> Iterator[Violation]:
    """A deleted field or enum value: refused unless both its number and its name are reserved."""
    what = "field" if rules is _FIELD_DELETE_RULES else "enum value"
    if not number_reserved and not name_reserved:
        yield at(rules[0], f'{what} {number} deleted: reserve it (reserved {number}; reserved "{name}";)')
    elif not number_reserved:
        yield at(rules[1], f"{what} {number} deleted without reserving its number (reserved {number};)")
    elif not name_reserved:
        yield at(rules[2], f'{what} {number} deleted without reserving its name (reserved "{name}";)')


def _reservations(
    template: Violation,
    old_ranges: Iterable[tuple[int, int]],
    new_ranges: Iterable[tuple[int, int]],
    unreserved_names: set[str],
) -> Iterator[Violation]:
    """Old reservations (inclusive number ranges, names) missing from the new version."""
    new_ranges = sorted(new_ranges)
    for start, end in old_ranges:
        position = start
        for low, high in new_ranges:
            if low <= position <= high:
                position = high + 1
        if position <= end:
            shown = str(start) if start == end else f"{start} to {end}"
            yield dataclasses.replace(template, message=f"reserved number(s) {shown} no longer reserved")
    for name in sorted(unreserved_names):
        yield dataclasses.replace(template, message=f'reserved name "{name}" no longer reserved')


def _same_type(old: FieldType, new: FieldType) -> bool:
    if isinstance(old, tuple) and isinstance(new, tuple):
        return old[1] == new[1] and _same_type(old[2], new[2])
    return old == new or (old, new) in ALLOWED_WIDENINGS
