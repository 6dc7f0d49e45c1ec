"""Each data file's value ranges from a Delta version's add actions (their `stats`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
from deltalake import DeltaTable

from pipelines.ports.query_engine import FileRanges

# Writers may cut a string's statistics to this many characters: a maximum that long may be a prefix.
_STRING_PREFIX = 32
# Timestamp statistics are written in milliseconds, cut: the true maximum may be up to 1 ms more.
_TIMESTAMP_SLACK = timedelta(milliseconds=1)


def _kept(type_: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(type_)
        or pa.types.is_decimal(type_)
        or pa.types.is_string(type_)
        or pa.types.is_date32(type_)
        or pa.types.is_timestamp(type_)
    )


def _upper(value: Any, type_: pa.DataType) -> Any:
    """A true upper bound from a recorded maximum."""
    if value is None:
        return None
    if pa.types.is_timestamp(type_):
        return value + _TIMESTAMP_SLACK
    if pa.types.is_string(type_) and len(value) >= _STRING_PREFIX:
        return None
    return value


def file_ranges(delta: DeltaTable, files: tuple[str, ...], schema: pa.Schema) -> FileRanges:
    """Per column of `schema` (integer, decimal, string, date, timestamp): each file's bounds from the log.

    The add actions are matched to `files` by their paths; when they do not match one for one, no ranges.
    """
    actions = pa.table(delta.get_add_actions(flatten=True))
    paths = [unquote(p) for p in actions.column("path").to_pylist()]
    if len(paths) != len(files) or not all(unquote(f).endswith(p) for f, p in zip(files, paths, strict=True)):
        return {}
    ranges: dict[str, tuple[list[Any], list[Any]]] = {}
    for field in schema:
        low, high = f"min.{field.name}", f"max.{field.name}"
        if not _kept(field.type) or low not in actions.column_names or high not in actions.column_names:
            continue
        try:
            lows = actions.column(low).cast(field.type).to_pylist()
            highs = [_upper(v, field.type) for v in actions.column(high).cast(field.type).to_pylist()]
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
        ranges[field.name] = (lows, highs)
    return ranges
