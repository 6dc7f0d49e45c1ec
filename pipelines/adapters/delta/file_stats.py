"""Delta `stats` of a data file (row count, min/max/null counts of the simple columns), from its Parquet footer."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _bounded(type_: pa.DataType) -> bool:
    """Whether min/max values of the type are recorded."""
    return bool(pa.types.is_integer(type_) or pa.types.is_string(type_) or pa.types.is_temporal(type_))


def _stats(rows: int, minimum: dict[str, Any], maximum: dict[str, Any], nulls: dict[str, int]) -> str:
    return json.dumps(
        {
            "numRecords": rows,
            "minValues": {k: _json_value(v) for k, v in minimum.items()},
            "maxValues": {k: _json_value(v) for k, v in maximum.items()},
            "nullCount": nulls,
        }
    )


def footer_stats(footer: pq.FileMetaData, schema: pa.Schema) -> str:
    """Delta `stats` of a Parquet file of `schema` from its footer: the statistics the writer computed anyway.

    A column whose statistics a row group lacks (pyarrow drops those of very long values) gets no
    bounds, rather than bounds that might exclude a row.
    """
    minimum: dict[str, Any] = {}
    maximum: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    groups = [footer.row_group(g) for g in range(footer.num_row_groups)]
    leaves = {groups[0].column(i).path_in_schema: i for i in range(footer.num_columns)} if groups else {}
    for field in schema:
        if pa.types.is_nested(field.type) or field.name not in leaves:
            continue
        chunks = [group.column(leaves[field.name]).statistics for group in groups]
        if any(s is None or not s.has_null_count for s in chunks):
            continue
        nulls[field.name] = sum(s.null_count for s in chunks)
        valued = [s for s in chunks if s.num_values]  # a chunk of nulls only has no bounds
        if _bounded(field.type) and valued and all(s.has_min_max for s in valued):
            minimum[field.name] = min(s.min for s in valued)
            maximum[field.name] = max(s.max for s in valued)
    return _stats(footer.num_rows, minimum, maximum, nulls)
