"""Shared rules of schema evolution and row deletion, so that every TableStore evolves and deletes alike.

A table evolves towards a desired schema (bronze: the event's current schema). Compatible changes:

- a new column, or a new field of a struct (also inside lists and maps): added as nullable, so the
  rows already written read it as null;
- a widening of a number: a signed integer to a wider one (int32→int64), float→double;
- a NOT NULL column (or nested field) the desired schema lets be null: the constraint is dropped;
- a rename: a column or nested field whose id (`PARQUET:field_id`, the proto field number at every
  depth) the desired schema has under a new name, while the old name is gone: it keeps its id and
  its values.

Refused, with the table, the column path and the rule: a column or nested field that the desired
schema lacks (COLUMN_NO_DELETE; a bronze table keeps every column), any other type change
(COLUMN_SAME_TYPE), a top-level field id (`PARQUET:field_id`, the proto field number) that changes
or is already another column's (COLUMN_SAME_ID). Nested paths read `items[].sku`, `labels.value`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.names import TableId
from pipelines.core.null_values import null_values
from pipelines.ports.table_store import table_schema

FIELD_ID_KEY = b"PARQUET:field_id"
ALLOWED_WIDENINGS = "int32→int64, float→double"


class SchemaEvolutionError(ValueError):
    """A schema change a table refuses; the message names the table, every column and the rule."""

    def __init__(self, table: TableId, problems: list[str]) -> None:
        super().__init__(f"{table}: schema change refused (nothing was changed): {'; '.join(problems)}")
        self.table = table
        self.problems = problems


@dataclass(frozen=True)
class SchemaChange:
    """One compatible change: `add` a column, `widen` its type, make it `nullable`, or `rename` it.

    A rename is a field whose id (`PARQUET:field_id`, the proto field number) the table has under
    another name that the new schema no longer has: it keeps its id and its values.
    """

    kind: Literal["add", "widen", "nullable", "rename"]
    column: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.column} ({self.detail})"


@dataclass(frozen=True)
class EvolutionPlan:
    """The schema a table evolves to, and the changes that lead there (empty: nothing to do)."""

    schema: pa.Schema
    changes: tuple[SchemaChange, ...]

    def only_additions(self) -> bool:
        """True when every change adds a column or a nested field."""
        return all(c.kind == "add" for c in self.changes)


@dataclass
class _Plan:
    changes: list[SchemaChange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def refuse(self, path: str, rule: str, text: str) -> None:
        self.problems.append(f"column {path}: {rule}: {text}")


def declared_id(f: pa.Field) -> int | None:
    """The field's `PARQUET:field_id`, or None."""
    raw = (f.metadata or {}).get(FIELD_ID_KEY)
    return int(raw) if raw is not None else None


def plan_evolution(table: TableId, current: pa.Schema, desired: pa.Schema) -> EvolutionPlan:
    """Plan how a table of schema `current` evolves to hold data of schema `desired`.

    Existing columns keep their place, metadata (ids, docs) and, unless widened, their type; new
    columns follow in the order of `desired`, with its metadata. Unsigned integers of `desired` are
    widened first, as every store stores them (`table_schema`).

    Args:
        table: the table, for messages.
        current: the table's schema.
        desired: the schema the table should accept.

    Returns:
        The evolved schema and the changes; no changes when `current` already accepts `desired`.

    Raises:
        SchemaEvolutionError: naming the table and each refused column with its rule.
    """
    desired = table_schema(desired)
    plan = _Plan()
    matched = _matches(list(current), list(desired), "", plan)
    taken = {i: f.name for f in current if (i := declared_id(f)) is not None}
    fields: list[pa.Field] = []
    for old in current:
        new = matched.get(old.name)
        if new is None:
            plan.refuse(old.name, "COLUMN_NO_DELETE", "is in the table but not in the new schema")
            fields.append(old)
            continue
        old_id, new_id = declared_id(old), declared_id(new)
        if old_id is not None and new_id is not None and old_id != new_id:
            plan.refuse(old.name, "COLUMN_SAME_ID", f"field id changed from {old_id} to {new_id}")
        fields.append(_field(old.name, old, new, plan))
    kept = {f.name for f in matched.values()}
    for new in desired:
        if new.name in kept:
            continue
        new_id = declared_id(new)
        if new_id is not None and new_id in taken:
            plan.refuse(new.name, "COLUMN_SAME_ID", f"field id {new_id} is already column {taken[new_id]}'s")
        plan.changes.append(SchemaChange("add", new.name, str(new.type)))
        fields.append(new.with_nullable(True))
    if plan.problems:
        raise SchemaEvolutionError(table, plan.problems)
    return EvolutionPlan(pa.schema(fields, metadata=current.metadata), tuple(plan.changes))


def _matches(old: list[pa.Field], new: list[pa.Field], prefix: str, plan: _Plan) -> dict[str, pa.Field]:
    """Old field name -> its field in `new`: the one of the same name, else (a rename) the one of the same id
    whose name the old fields do not have, when the old field's name is gone from `new`."""
    by_name = {f.name: f for f in new}
    old_names = {f.name for f in old}
    by_id = {i: f for f in new if (i := declared_id(f)) is not None and f.name not in old_names}
    matched: dict[str, pa.Field] = {}
    for each in old:
        if each.name in by_name:
            matched[each.name] = by_name[each.name]
        elif (number := declared_id(each)) is not None and number in by_id:
            matched[each.name] = by_id.pop(number)
            plan.changes.append(SchemaChange("rename", prefix + each.name, f"to {matched[each.name].name}"))
    return matched


def _field(path: str, old: pa.Field, new: pa.Field, plan: _Plan, can_relax: bool = True) -> pa.Field:
    type_ = _type(path, old.type, new.type, plan)
    nullable = old.nullable
    if can_relax and new.nullable and not old.nullable:
        nullable = True
        plan.changes.append(SchemaChange("nullable", path, "NOT NULL dropped"))
    return pa.field(new.name, type_, nullable, old.metadata)


def _type(path: str, old: pa.DataType, new: pa.DataType, plan: _Plan) -> pa.DataType:
    if pa.types.is_struct(old) and pa.types.is_struct(new):
        matched = _matches(list(old.fields), list(new.fields), f"{path}.", plan)
        children: list[pa.Field] = []
        for child in old.fields:
            if child.name in matched:
                children.append(_field(f"{path}.{child.name}", child, matched[child.name], plan))
            else:
                plan.refuse(f"{path}.{child.name}", "COLUMN_NO_DELETE", "is in the table but not in the new schema")
                children.append(child)
        known = {f.name for f in matched.values()}
        for child in new.fields:
            if child.name not in known:
                plan.changes.append(SchemaChange("add", f"{path}.{child.name}", str(child.type)))
                children.append(child.with_nullable(True))
        return pa.struct(children)
    if pa.types.is_map(old) and pa.types.is_map(new):
        key = _field(f"{path}.key", old.key_field, new.key_field, plan, can_relax=False)
        item = _field(f"{path}.value", old.item_field, new.item_field, plan)
        return pa.map_(key, item)
    if _is_list(old) and _is_list(new):
        element = _field(f"{path}[]", old.value_field, new.value_field, plan)
        return pa.large_list(element) if pa.types.is_large_list(old) else pa.list_(element)
    if _normal(old) == _normal(new):
        return old
    if _widens(old, new):
        plan.changes.append(SchemaChange("widen", path, f"{old} → {new}"))
        return new
    plan.refuse(path, "COLUMN_SAME_TYPE", f"{old} cannot become {new} (allowed widenings: {ALLOWED_WIDENINGS})")
    return old


def _is_list(type_: pa.DataType) -> bool:
    return bool(pa.types.is_list(type_) or pa.types.is_large_list(type_))


def _normal(type_: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(type_) or pa.types.is_string_view(type_):
        return pa.string()
    if pa.types.is_large_binary(type_) or pa.types.is_binary_view(type_):
        return pa.binary()
    return type_


def _widens(old: pa.DataType, new: pa.DataType) -> bool:
    if pa.types.is_signed_integer(old) and pa.types.is_signed_integer(new):
        return bool(new.bit_width > old.bit_width)
    if pa.types.is_floating(old) and pa.types.is_floating(new):
        return bool(new.bit_width > old.bit_width)
    return False


def align_to_schema(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """`data` written under an earlier schema of a table, read under `schema`.

    Columns (and nested fields) added since read as null, widened columns are cast; columns not in
    `schema` are dropped. Meant for data the table already holds, not for checking new data.
    """
    n = data.num_rows
    source = _with_names(pa.struct(list(data.schema)), pa.struct(list(schema)))
    columns = []
    for i, f in enumerate(data.schema):
        renamed = source.field(i)
        if renamed.type != f.type:  # a nested rename: the same buffers under the new names
            columns.append(pa.chunked_array([c.view(renamed.type) for c in data.column(i).chunks], renamed.type))
        else:
            columns.append(data.column(i))
    found = {source.field(i).name: column for i, column in enumerate(columns)}
    aligned = [found[f.name].cast(f.type) if f.name in found else null_values(f.type, n) for f in schema]
    return pa.Table.from_arrays(aligned, schema=schema)


def _with_names(old: pa.DataType, new: pa.DataType) -> pa.DataType:
    """`old` with the names `new` gives its renamed fields (same id, old name gone), at every depth."""
    if pa.types.is_struct(old) and pa.types.is_struct(new):
        names = {f.name for f in old}
        by_name = {f.name: f for f in new}
        by_id = {i: f for f in new if (i := declared_id(f)) is not None and f.name not in names}
        children = []
        for child in old:
            number = declared_id(child)
            target = by_name.get(child.name) or (by_id.get(number) if number is not None else None)
            children.append(
                child.with_name(target.name).with_type(_with_names(child.type, target.type)) if target else child
            )
        return pa.struct(children)
    if pa.types.is_map(old) and pa.types.is_map(new):
        item = old.item_field.with_type(_with_names(old.item_type, new.item_type))
        return pa.map_(old.key_field, item, keys_sorted=old.keys_sorted)
    if pa.types.is_list(old) and pa.types.is_list(new):
        return pa.list_(old.value_field.with_type(_with_names(old.value_type, new.value_type)))
    if pa.types.is_large_list(old) and pa.types.is_large_list(new):
        return pa.large_list(old.value_field.with_type(_with_names(old.value_type, new.value_type)))
    return old


def matching_rows(table: TableId, data: pa.Table, keys: pa.Table) -> pa.Array:
    """A boolean mask of the rows of `data` whose values in the columns of `keys` equal a row of `keys`.

    Raises:
        ValueError: `keys` has no column, or a column `data` lacks or of another type.
    """
    names = keys.column_names
    if not names:
        raise ValueError(f"{table}: delete keys have no column")
    if unknown := [n for n in names if n not in data.column_names]:
        raise ValueError(f"{table} has no column(s) {', '.join(unknown)} to match delete keys on")
    try:
        keys = keys.cast(pa.schema([data.schema.field(n).with_nullable(True) for n in names]))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"{table}: delete keys do not fit the table's columns: {exc}") from exc
    rows = pa.table({**{n: data.column(n) for n in names}, "__row": pa.array(range(data.num_rows), pa.int64())})
    distinct = keys.group_by(names).aggregate([])
    hits = rows.join(distinct, keys=names, join_type="inner").column("__row")
    return pc.is_in(pa.array(range(data.num_rows), pa.int64()), value_set=hits.combine_chunks())


def check_key_columns(table: TableId, schema: pa.Schema, keys: pa.Table) -> None:
    """Refuse delete keys on columns the table lacks or that are neither strings nor integers.

    Raises:
        ValueError: naming the table and the column.
    """
    for name in keys.column_names:
        if name not in schema.names:
            raise ValueError(f"{table} has no column {name} to match delete keys on")
        type_ = schema.field(name).type
        if not (pa.types.is_integer(type_) or pa.types.is_string(type_) or pa.types.is_large_string(type_)):
            raise ValueError(f"{table}: delete keys must be string or integer columns, {name} is {type_}")
