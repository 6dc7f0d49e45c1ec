"""Each data file's value ranges from an Iceberg snapshot's manifests (the writers' lower and upper bounds)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from pyiceberg.conversions import from_bytes
from pyiceberg.manifest import DataFile
from pyiceberg.schema import Schema
from pyiceberg.types import PrimitiveType

from pipelines.ports.query_engine import FileRanges

# Bounds kept for these Arrow types (as what their Iceberg bytes decode to), others are not compared.
_STORAGE = {pa.date32(): pa.int32()}


def _kept(type_: pa.DataType) -> bool:
    if pa.types.is_timestamp(type_):
        return bool(type_.unit == "us")
    return bool(
        pa.types.is_integer(type_)
        or pa.types.is_decimal(type_)
        or pa.types.is_string(type_)
        or pa.types.is_date32(type_)
    )


def _decoded(type_: PrimitiveType, raw: bytes | None) -> Any:
    """The bound's value (a promoted column's older bound may not decode: then no bound)."""
    if raw is None:
        return None
    try:
        return from_bytes(type_, raw)
    except (struct.error, ValueError, TypeError):
        return None


def file_ranges(files: Sequence[DataFile], schema: Schema, arrow: pa.Schema) -> FileRanges:
    """Per top-level column of `arrow` (integer, decimal, string, date, timestamp): each file's bounds.

    Iceberg's bounds are true bounds of the non-null values even when truncated (a string's lower bound
    is a prefix, its upper bound a prefix rounded up); a file without bounds for a column (written before
    the column was added, all nulls) gets None.
    """
    ranges: dict[str, tuple[list[Any], list[Any]]] = {}
    for field in schema.fields:
        if field.name not in arrow.names or not isinstance(field.field_type, PrimitiveType):
            continue
        type_ = arrow.field(field.name).type
        if not _kept(type_):
            continue
        bounds = []
        for side in ("lower_bounds", "upper_bounds"):
            raw = [_decoded(field.field_type, (getattr(f, side) or {}).get(field.field_id)) for f in files]
            storage = pa.int64() if pa.types.is_timestamp(type_) else _STORAGE.get(type_, type_)
            try:
                bounds.append(pa.array(raw, storage).cast(type_).to_pylist())
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
                bounds = []
                break
        if bounds:
            ranges[field.name] = (bounds[0], bounds[1])
    return ranges
