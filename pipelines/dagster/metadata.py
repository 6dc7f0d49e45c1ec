"""Dagster metadata built from meshlake objects: column schemas, commits, ingestion counts."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pyarrow as pa


def column_schema(schema: pa.Schema, pii: dict[str, str] | None = None) -> dg.TableSchema:
    """Dagster's column schema of an Arrow schema; `doc` metadata becomes the description."""
    pii = pii or {}
    columns = []
    for field in schema:
        meta = field.metadata or {}
        doc = meta.get(b"doc", b"").decode() or None
        tags = {"pii": pii[field.name].removeprefix("PII_").lower()} if field.name in pii else None
        columns.append(
            dg.TableColumn(
                field.name,
                str(field.type),
                description=doc,
                constraints=dg.TableColumnConstraints(nullable=field.nullable),
                tags=tags,
            )
        )
    return dg.TableSchema(columns=columns)


def table_metadata(fmt: str, location: str, version: int, rows: int, schema: pa.Schema) -> dict[str, Any]:
    """Metadata every table materialisation carries."""
    return {
        "dagster/row_count": rows,
        "dagster/uri": location,
        "dagster/column_schema": column_schema(schema),
        "table_format": fmt,
        "version": dg.MetadataValue.int(version) if -(2**63) <= version < 2**63 else str(version),
    }
