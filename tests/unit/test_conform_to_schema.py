"""conform_to_schema and nested non-nullable fields: a null counts only where its parent is a valid value."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipelines.core.names import TableId
from pipelines.ports.table_store import conform_to_schema

TABLE = TableId("orders", "bronze_order_placed")
TIME = pa.struct([pa.field("seconds", pa.int64(), nullable=False)])
ITEM = pa.struct([pa.field("sku", pa.string(), nullable=False)])
SCHEMA = pa.schema(
    [
        pa.field("placed_at", TIME),  # the struct itself may be null
        pa.field("items", pa.list_(pa.field("element", ITEM, nullable=False)), nullable=False),
    ]
)


def placed_at(seconds: list[int | None], valid: list[bool]) -> pa.StructArray:
    return pa.StructArray.from_arrays(
        [pa.array(seconds, pa.int64())], fields=list(TIME), mask=pa.array([not v for v in valid])
    )


def items(skus: list[list[str | None]]) -> pa.ListArray:
    return pa.array([[{"sku": s} for s in row] for row in skus], SCHEMA.field("items").type)


def test_a_null_child_under_a_null_struct_is_accepted() -> None:
    data = pa.table({"placed_at": placed_at([None, 7], [False, True]), "items": items([["a"], []])})

    conformed = conform_to_schema(TABLE, data, SCHEMA)

    assert conformed.column("placed_at").to_pylist() == [None, {"seconds": 7}]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"placed_at": placed_at([None, 7], [True, True]), "items": items([[], []])}, r"placed_at\.seconds"),
        ({"placed_at": placed_at([1, None], [True, False]), "items": items([["a"], ["b", None]])}, r"items\[\]\.sku"),
    ],
)
def test_a_null_child_of_a_valid_value_is_refused_with_its_path(data: dict[str, pa.Array], path: str) -> None:
    with pytest.raises(ValueError, match=rf"bronze_order_placed.*non-nullable field\(s\) {path} hold nulls"):
        conform_to_schema(TABLE, pa.table(data), SCHEMA)
