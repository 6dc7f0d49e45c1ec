"""Column encodings of the stores' Parquet files: ingest offsets delta-encoded, the rest as pyarrow chooses."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.adapters.parquet_encodings import column_encodings, leaf_paths
from tests.contract.conftest import STORE_FACTORIES
from tests.contract.test_table_store import ORDERS, SCHEMA, positions, rows, sorted_rows

NESTED = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("items", pa.list_(pa.struct([pa.field("sku", pa.string()), pa.field("n", pa.int32())]))),
        pa.field("attributes", pa.map_(pa.string(), pa.list_(pa.int64()))),
        pa.field("_ingest", pa.struct([pa.field("source", pa.string()), pa.field("offset", pa.int64())])),
    ]
)


def written_paths(schema: pa.Schema) -> list[str]:
    buffer = io.BytesIO()
    pq.write_table(schema.empty_table(), buffer)
    parquet = pq.ParquetFile(io.BytesIO(buffer.getvalue())).schema
    return [parquet.column(i).path for i in range(len(parquet))]


def test_leaf_paths_are_the_column_paths_pyarrow_writes() -> None:
    assert leaf_paths(NESTED) == written_paths(NESTED)
    assert column_encodings(NESTED)["column_encoding"] == {"_ingest.offset": "DELTA_BINARY_PACKED"}
    assert column_encodings(NESTED.remove(3)) == {}  # nothing to delta-encode: pyarrow's defaults


@pytest.mark.parametrize(
    ("fmt", "write"),
    # Delta's `append` goes through delta-rs, which can set no nested column's encoding (see parquet_encodings)
    [("iceberg", "append"), ("iceberg", "append_batches"), ("delta", "append_batches")],
)
def test_ingest_offsets_are_delta_encoded_and_read_back(
    tmp_path: Path, fmt: str, write: str, request: pytest.FixtureRequest
) -> None:
    store = STORE_FACTORIES[fmt](request, tmp_path)
    store.ensure_table(ORDERS, SCHEMA)
    data = pa.concat_tables([rows(*range(1, 29))] * 18)  # a row per day of February, 18 times
    if write == "append":
        store.append(ORDERS, data, positions(1))
    else:
        store.append_batches(ORDERS, [data.slice(0, 200), data.slice(200)], lambda: positions(1))

    files = sorted(tmp_path.rglob("*.parquet"))
    assert files
    for file in files:
        group = pq.ParquetFile(file).metadata.row_group(0)
        chunks = {(c := group.column(i)).path_in_schema: c for i in range(group.num_columns)}
        assert "DELTA_BINARY_PACKED" in chunks["_ingest.offset"].encodings
        assert "RLE_DICTIONARY" not in chunks["_ingest.offset"].encodings
        assert "RLE_DICTIONARY" in chunks["_ingest.source"].encodings
    assert sorted_rows(store.read(ORDERS)) == sorted_rows(data)
