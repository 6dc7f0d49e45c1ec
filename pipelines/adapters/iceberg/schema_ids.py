"""Iceberg schemas whose field ids are the proto field numbers, and Arrow schemas back from them.

Id scheme (deterministic, so the same Arrow schema always yields the same Iceberg schema):

- a top-level column with `PARQUET:field_id` metadata keeps that id (the proto field number);
- top-level columns without one (e.g. `_ingest`) get 1_000_000, 1_000_001, ... in column order;
- every nested field (struct child, list element, map key and value) gets 10_000, 10_001, ...
  depth-first in column order, ignoring any id it carries (nested proto numbers repeat).

Ids already taken by top-level columns are skipped by both counters.

An evolved schema (`evolved_iceberg_schema`) keeps every existing field's id; a new top-level column
takes its `PARQUET:field_id` (else the next free id), a new nested field the next id above the
table's last column id.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyiceberg.io.pyarrow import pyarrow_to_schema, schema_to_pyarrow
from pyiceberg.schema import Schema

FIELD_ID_KEY = b"PARQUET:field_id"
NESTED_ID_START = 10_000
UNNUMBERED_ID_START = 1_000_000


def _ids(start: int, taken: set[int]) -> Iterator[int]:
    candidate = start
    while True:
        if candidate not in taken:
            taken.add(candidate)
            yield candidate
        candidate += 1


def _with_id(field: pa.Field, field_id: int) -> pa.Field:
    metadata = dict(field.metadata or {})
    metadata[FIELD_ID_KEY] = str(field_id).encode()
    return field.with_metadata(metadata)


def _number_nested(type_: pa.DataType, ids: Iterator[int]) -> pa.DataType:
    if pa.types.is_struct(type_):
        children = []
        for child in type_.fields:
            numbered = _with_id(child, next(ids))
            children.append(numbered.with_type(_number_nested(child.type, ids)))
        return pa.struct(children)
    if pa.types.is_map(type_):
        key = _with_id(type_.key_field, next(ids))
        key = key.with_type(_number_nested(key.type, ids))
        item = _with_id(type_.item_field, next(ids))
        item = item.with_type(_number_nested(item.type, ids))
        return pa.map_(key, item)
    if pa.types.is_list(type_) or pa.types.is_large_list(type_):
        element = _with_id(type_.value_field, next(ids))
        element = element.with_type(_number_nested(element.type, ids))
        return pa.large_list(element) if pa.types.is_large_list(type_) else pa.list_(element)
    return type_


def declared_field_ids(schema: pa.Schema) -> dict[str, int]:
    """The `PARQUET:field_id` of each top-level column that has one.

    Raises:
        ValueError: an id is not a positive integer or two columns share one.
    """
    found: dict[str, int] = {}
    for field in schema:
        raw = (field.metadata or {}).get(FIELD_ID_KEY)
        if raw is None:
            continue
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"column {field.name}: field id {raw!r} is not an integer") from None
        if value <= 0:
            raise ValueError(f"column {field.name}: field id {value} must be positive")
        if clash := next((name for name, other in found.items() if other == value), None):
            raise ValueError(f"columns {clash} and {field.name} share field id {value}")
        found[field.name] = value
    return found


def numbered_arrow_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with a `PARQUET:field_id` on every field, following the module's id scheme.

    Raises:
        ValueError: the declared top-level ids are invalid.
    """
    declared = declared_field_ids(schema)
    taken = set(declared.values())
    unnumbered = _ids(UNNUMBERED_ID_START, taken)
    top = [_with_id(f, declared.get(f.name) or next(unnumbered)) for f in schema]
    nested = _ids(NESTED_ID_START, taken)
    return pa.schema([f.with_type(_number_nested(f.type, nested)) for f in top])


def iceberg_schema(schema: pa.Schema) -> Schema:
    """The Iceberg schema of an Arrow schema, with ids from `numbered_arrow_schema`.

    Nullability is kept (non-nullable Arrow fields become required), `doc` metadata becomes the
    column doc.

    Raises:
        ValueError: the ids are invalid or a type has no Iceberg equivalent.
    """
    try:
        return pyarrow_to_schema(numbered_arrow_schema(schema))
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


def _children(path: str, type_: pa.DataType) -> list[tuple[str, pa.Field]]:
    """The child fields of a nested type with their paths (`a.b`, `a[]`, `a.key`, `a.value`)."""
    if pa.types.is_struct(type_):
        return [(f"{path}.{f.name}", f) for f in type_.fields]
    if pa.types.is_map(type_):
        return [(f"{path}.key", type_.key_field), (f"{path}.value", type_.item_field)]
    if pa.types.is_list(type_) or pa.types.is_large_list(type_):
        return [(f"{path}[]", type_.value_field)]
    return []


def _ids_by_path(schema: pa.Schema) -> dict[str, int]:
    found: dict[str, int] = {}
    pending = [(f.name, f) for f in schema]
    while pending:
        path, field = pending.pop()
        raw = (field.metadata or {}).get(FIELD_ID_KEY)
        if raw is not None:
            found[path] = int(raw)
        pending.extend(_children(path, field.type))
    return found


def _renumber(
    path: str, field: pa.Field, existing: dict[str, int], fresh: Iterator[int], declared: int | None
) -> pa.Field:
    field_id = existing.get(path) or declared or next(fresh)
    children = [_renumber(p, f, existing, fresh, None) for p, f in _children(path, field.type)]
    type_ = field.type
    if pa.types.is_struct(type_):
        type_ = pa.struct(children)
    elif pa.types.is_map(type_):
        type_ = pa.map_(children[0], children[1])
    elif pa.types.is_large_list(type_):
        type_ = pa.large_list(children[0])
    elif pa.types.is_list(type_):
        type_ = pa.list_(children[0])
    return _with_id(field, field_id).with_type(type_)


def evolved_iceberg_schema(current: Schema, evolved: pa.Schema, last_column_id: int, schema_id: int) -> Schema:
    """The Iceberg schema of `evolved` (a planned evolution of `current`), ids following the module's scheme.

    Args:
        current: the table's current schema.
        evolved: the Arrow schema to evolve to; existing fields are matched by name path.
        last_column_id: the table's last assigned column id.
        schema_id: the id of the new schema.

    Raises:
        ValueError: a new column's declared id is already used by another field.
    """
    existing = _ids_by_path(arrow_schema(current))
    taken = set(existing.values())
    declared: dict[str, int] = {}
    for field in evolved:
        number = declared_field_ids(pa.schema([field])).get(field.name)
        if field.name in existing or number is None:
            continue
        if number in taken:
            owner = next((path for path, i in existing.items() if i == number), "another new column")
            raise ValueError(f"column {field.name}: COLUMN_SAME_ID: field id {number} is already used by {owner}")
        taken.add(number)
        declared[field.name] = number
    fresh = _ids(last_column_id + 1, taken)
    fields = [_renumber(f.name, f, existing, fresh, declared.get(f.name)) for f in evolved]
    try:
        converted = pyarrow_to_schema(pa.schema(fields))
    except TypeError as exc:
        raise ValueError(str(exc)) from exc
    return Schema(*converted.fields, schema_id=schema_id, identifier_field_ids=current.identifier_field_ids)


def _small(type_: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(type_):
        return pa.string()
    if pa.types.is_large_binary(type_):
        return pa.binary()
    if pa.types.is_struct(type_):
        return pa.struct([f.with_type(_small(f.type)) for f in type_.fields])
    if pa.types.is_map(type_):
        key, item = type_.key_field, type_.item_field
        return pa.map_(key.with_type(_small(key.type)), item.with_type(_small(item.type)))
    if pa.types.is_list(type_) or pa.types.is_large_list(type_):
        return pa.list_(type_.value_field.with_type(_small(type_.value_type)))
    return type_


def arrow_schema(schema: Schema) -> pa.Schema:
    """The Arrow schema of an Iceberg schema: field ids as `PARQUET:field_id`, 32-bit offset types."""
    converted = schema_to_pyarrow(schema)
    return pa.schema([f.with_type(_small(f.type)) for f in converted])
