"""Iceberg schemas whose field ids are the proto field numbers, and Arrow schemas back from them.

Id scheme (deterministic, so the same Arrow schema always yields the same Iceberg schema):

- a top-level column with `PARQUET:field_id` metadata keeps that id (the proto field number);
- top-level columns without one (e.g. `_ingest`) get 1_000_000, 1_000_001, ... in column order;
- every nested field (struct child, list element, map key and value) gets 10_000, 10_001, ...
  depth-first in column order, ignoring any id it carries (nested proto numbers repeat).

Ids already taken by top-level columns are skipped by both counters.

Nested ids cannot be the proto numbers (those repeat at every level), so the table keeps which
number each nested field has in its property `meshlake.field-numbers` (Iceberg id -> number).

An evolved schema (`evolved_iceberg_schema`) keeps every existing field's id, matching fields by
the path of their ids (a column's id, then the proto numbers of nested fields), so a field renamed
at the same number keeps its id: a rename, not a drop and an add. A new top-level column takes its
`PARQUET:field_id` (else the next free id), a new nested field the next id above the table's last
column id. Tables made before the property match nested fields by name path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pyarrow as pa
from pyiceberg.io.pyarrow import pyarrow_to_schema, schema_to_pyarrow
from pyiceberg.schema import Schema

FIELD_ID_KEY = b"PARQUET:field_id"
NUMBERS_PROPERTY = "meshlake.field-numbers"
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


def _field_id(field: pa.Field) -> int | None:
    raw = (field.metadata or {}).get(FIELD_ID_KEY)
    return int(raw) if raw is not None else None


def _walk(schema: pa.Schema) -> Iterator[tuple[str, int, pa.Field]]:
    """Every field with its name path and depth (0: a column), depth first."""
    pending = [(f.name, 0, f) for f in reversed(list(schema))]
    while pending:
        path, depth, field = pending.pop()
        yield path, depth, field
        pending.extend((p, depth + 1, f) for p, f in reversed(_children(path, field.type)))


def nested_numbers(declared: pa.Schema, numbered: pa.Schema) -> dict[int, int]:
    """Iceberg id -> proto field number of every nested field `declared` numbers (the table property's value).

    Args:
        declared: the schema as `arrow_schema` made it (nested `PARQUET:field_id` = proto numbers).
        numbered: the same schema with the Iceberg ids (`numbered_arrow_schema`, or the table's).
    """
    found: dict[int, int] = {}
    for (_, depth, ours), (_, _, theirs) in zip(_walk(declared), _walk(numbered), strict=True):
        number, iceberg_id = _field_id(ours), _field_id(theirs)
        if depth and number is not None and iceberg_id is not None:
            found[iceberg_id] = number
    return found


def encode_numbers(numbers: dict[int, int]) -> str:
    return json.dumps({str(k): v for k, v in sorted(numbers.items())}, separators=(",", ":"))


def decode_numbers(text: str | None) -> dict[int, int] | None:
    """The property's mapping; None for a table made before nested fields kept their proto numbers."""
    return None if text is None else {int(k): int(v) for k, v in json.loads(text).items()}


def with_numbers(schema: pa.Schema, numbers: dict[int, int] | None) -> pa.Schema:
    """A table's Arrow schema with the proto number as the id of each nested field (unnumbered ones: no id).

    Planning an evolution then matches nested fields by number, like top-level ones, so a field
    renamed at the same number is a rename. A table without the mapping (`None`) is left as it is.
    """
    if numbers is None:
        return schema

    def renumbered(field: pa.Field) -> pa.Field:
        metadata = {k: v for k, v in (field.metadata or {}).items() if k != FIELD_ID_KEY}
        number = numbers.get(_field_id(field) or -1)
        if number is not None:
            metadata[FIELD_ID_KEY] = str(number).encode()
        return field.with_metadata(metadata).with_type(_nested(field.type, renumbered))

    return pa.schema([f.with_type(_nested(f.type, renumbered)) for f in schema], metadata=schema.metadata)


def _nested(type_: pa.DataType, change: Callable[[pa.Field], pa.Field]) -> pa.DataType:
    if pa.types.is_struct(type_):
        return pa.struct([change(f) for f in type_.fields])
    if pa.types.is_map(type_):
        return pa.map_(change(type_.key_field), change(type_.item_field))
    if pa.types.is_large_list(type_):
        return pa.large_list(change(type_.value_field))
    if pa.types.is_list(type_):
        return pa.list_(change(type_.value_field))
    return type_


def _keys(schema: pa.Schema, by_number: bool, numbers: dict[int, int] | None = None) -> Iterator[tuple[str, pa.Field]]:
    """Each field with the key it is matched on across schema versions: the path of its ids, or names
    where a field has none (a column's id is its own; a nested field's its proto number)."""
    keys: dict[str, str] = {}
    for path, depth, field in _walk(schema):
        parent = path[: max(path.rfind("."), path.rfind("[]"))] if depth else ""
        step = path[len(parent) :] if depth else path
        own = _field_id(field)
        if depth and numbers is not None:
            own = numbers.get(own) if own is not None else None
        if depth and not by_number:
            own = None
        keys[path] = f"{keys[parent]}/" if depth else ""
        keys[path] += f"#{own}" if own is not None and not step.endswith("[]") else step.lstrip(".")
        yield keys[path], field


def evolved_iceberg_schema(
    current: Schema, evolved: pa.Schema, last_column_id: int, schema_id: int, numbers: dict[int, int] | None = None
) -> tuple[Schema, dict[int, int] | None]:
    """The Iceberg schema of `evolved` (a planned evolution of `current`), ids following the module's scheme.

    Args:
        current: the table's current schema.
        evolved: the Arrow schema to evolve to (`plan_evolution` of `with_numbers` of the table's schema).
        last_column_id: the table's last assigned column id.
        schema_id: the id of the new schema.
        numbers: the table's Iceberg id -> proto number of nested fields; None for a table made before
            they were kept (its nested fields are then matched by name path).

    Returns:
        The schema, and the mapping of numbers to store with it (None: keep none).

    Raises:
        ValueError: a new column's declared id is already used by another field.
    """
    by_number = numbers is not None
    existing = {key: _field_id(f) or 0 for key, f in _keys(arrow_schema(current), by_number, numbers)}
    taken = set(existing.values())
    declared: dict[str, int] = {}
    for field in evolved:
        number = declared_field_ids(pa.schema([field])).get(field.name)
        if number is None or f"#{number}" in existing:
            continue
        if number in taken:
            owner = next((key for key, i in existing.items() if i == number), "another new column")
            raise ValueError(f"column {field.name}: COLUMN_SAME_ID: field id {number} is already used by {owner}")
        taken.add(number)
        declared[f"#{number}"] = number
    fresh = _ids(last_column_id + 1, taken)
    assigned = iter([existing.get(key) or declared.get(key) or next(fresh) for key, _ in _keys(evolved, by_number)])
    numbered = pa.schema([_assign(f, assigned) for f in evolved])
    try:
        converted = pyarrow_to_schema(numbered)
    except TypeError as exc:
        raise ValueError(str(exc)) from exc
    schema = Schema(*converted.fields, schema_id=schema_id, identifier_field_ids=current.identifier_field_ids)
    return schema, (nested_numbers(evolved, numbered) if by_number else None)


def _assign(field: pa.Field, ids: Iterator[int]) -> pa.Field:
    """`field` and its descendants with the next ids of `ids`, depth first (the order of `_walk`)."""
    numbered = _with_id(field, next(ids))
    return numbered.with_type(_nested(field.type, lambda child: _assign(child, ids)))


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
