"""Null columns of nested types whose non-nullable descendants still hold values, as Parquet writers require."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def null_values(type_: pa.DataType, n: int) -> pa.Array:
    """`n` nulls of `type_`; below a null struct every non-nullable field holds its empty value.

    `pa.nulls` of a struct leaves its children null too, and Parquet writers (pyarrow's, hence
    both table formats) refuse a null in a non-nullable field even where its parent is null. This
    is what `pa.array([None] * n, type_)` builds, without a Python object per row.
    """
    if not pa.types.is_struct(type_):
        return pa.nulls(n, type_)
    children = [_filler(f, n) for f in type_]
    return pa.StructArray.from_arrays(children, fields=list(type_), mask=pa.array(np.ones(n, np.bool_)))


def empty_values(type_: pa.DataType, n: int) -> pa.Array:
    """`n` valid empty values of `type_`: zero, false, "", b"", empty lists and maps, structs of empty values."""
    if pa.types.is_struct(type_):
        return pa.StructArray.from_arrays([_filler(f, n) for f in type_], fields=list(type_))
    if pa.types.is_map(type_):
        offsets = pa.array(np.zeros(n + 1, np.int32))
        return pa.MapArray.from_arrays(offsets, pa.array([], type_.key_type), pa.array([], type_.item_type), type=type_)
    if pa.types.is_large_list(type_):
        return pa.LargeListArray.from_arrays(pa.array(np.zeros(n + 1, np.int64)), pa.array([], type_.value_type), type_)
    if pa.types.is_list(type_):
        return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], type_.value_type), type_)
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return pa.repeat(pa.scalar("", type_), n)
    if pa.types.is_binary(type_) or pa.types.is_large_binary(type_):
        return pa.repeat(pa.scalar(b"", type_), n)
    if pa.types.is_boolean(type_):
        return pa.repeat(pa.scalar(False), n)
    return pc.cast(pa.array(np.zeros(n, np.int64)), type_)


def _filler(field: pa.Field, n: int) -> pa.Array:
    return null_values(field.type, n) if field.nullable else empty_values(field.type, n)
