"""Rows a table cannot hold (a value its column type cannot take) are found and sent to quarantine alone.

Decoding accepts any well-formed event, but a table may still refuse a value: a bronze table made
when uint64 was stored as int64 cannot take 2**63, for instance. Without this step such a value
fails the write of its whole batch, every run again, and its event type stalls. Each batch is
conformed to the table's schema here (the store then finds nothing left to cast); only when that
fails are the offending rows searched for, by halving.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pipelines.core.names import TableId
from pipelines.ports.event_source import RawBatch
from pipelines.ports.table_store import Batch, Selection, batch_rows, conform_batch, conform_to_schema
from pipelines.services.quarantine import Rejected

OFFSETS = ("_ingest", "offset")
"""Where a bronze row keeps the source offset of its event."""


def storable(table: TableId, batch: Batch, schema: pa.Schema, raw: RawBatch) -> tuple[Batch, list[Rejected]]:
    """The rows of `batch` conformed to `schema`, without those the table cannot hold; a reject for each of those.

    Args:
        table: the table written to (named in the reasons).
        batch: bronze rows of `raw`'s events.
        schema: the table's schema.
        raw: the source batch, for the payloads of rejected rows.

    Raises:
        ValueError: the batch does not fit the table as a whole (a missing or unexpected column), not
            because of some rows' values.
    """
    try:
        data, selected = conform_batch(table, batch, schema)
    except ValueError:
        rows = batch_rows(batch)
        if _columns_unfit(table, rows, schema):
            raise
        found = _unfit(table, rows, schema, 0, rows.num_rows)
        if not found:
            raise
        kept = np.ones(rows.num_rows, np.bool_)
        kept[[i for i, _ in found]] = False
        return conform_to_schema(table, rows.filter(pa.array(kept)), schema), _rejects(rows, found, raw)
    return (Selection(data, selected) if selected is not None else data), []


def _columns_unfit(table: TableId, rows: pa.Table, schema: pa.Schema) -> bool:
    """Whether the columns themselves do not fit (then no row would, alone or not): checked without rows."""
    try:
        conform_to_schema(table, rows.slice(0, 0), schema)
    except ValueError:
        return True
    return False


def _unfit(table: TableId, rows: pa.Table, schema: pa.Schema, start: int, stop: int) -> list[tuple[int, str]]:
    """(row, reason) of each row in `[start, stop)` the table cannot hold, found by halving the range."""
    try:
        conform_to_schema(table, rows.slice(start, stop - start), schema)
    except ValueError as exc:
        if stop - start == 1:
            return [(start, str(exc))]
        middle = (start + stop) // 2
        return _unfit(table, rows, schema, start, middle) + _unfit(table, rows, schema, middle, stop)
    return []


def _rejects(rows: pa.Table, found: list[tuple[int, str]], raw: RawBatch) -> list[Rejected]:
    offsets = rows.column(OFFSETS[0]).combine_chunks().field(OFFSETS[1])
    source_offsets = np.asarray(raw.offsets, np.int64)
    rejects = []
    for row, reason in found:
        offset = int(offsets[row].as_py())
        index = int(np.searchsorted(source_offsets, offset))
        rejects.append(Rejected(raw.source, offset, bytes(raw.payloads[index]), f"store: {reason}"))
    return rejects
