"""The TableStore behaviour suite, part two: schema evolution and row deletion, on every implementation."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pytest

from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.core.names import TableId
from pipelines.ports.table_evolution import SchemaChange, SchemaEvolutionError
from pipelines.ports.table_store import PartitionField, TableStore
from tests.contract.conftest import STORE_FACTORIES
from tests.contract.test_table_store import ITEM, ORDERS, SCHEMA, order_ids, positions, rows

ID = b"PARQUET:field_id"
ITEM_V2 = pa.struct([*ITEM, pa.field("discount", pa.int64())])
SCHEMA_V2 = pa.schema(
    [
        *[
            f.with_type(pa.list_(pa.field("element", ITEM_V2, nullable=False))) if f.name == "items" else f
            for f in SCHEMA
        ],
        pa.field("coupon", pa.string(), nullable=False, metadata={ID: b"11"}),
    ]
)
NUMBERS = TableId("metrics", "numbers")
NUMBERS_SCHEMA = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False, metadata={ID: b"1"}),
        pa.field("hits", pa.int32(), nullable=False, metadata={ID: b"2"}),
        pa.field("ratio", pa.float32(), metadata={ID: b"3"}),
    ]
)


def rows_v2(*ids: int) -> pa.Table:
    """Orders of the evolved schema: a coupon and a discount on the first item."""
    old = rows(*ids).to_pylist()
    for row in old:
        row["coupon"] = f"SAVE{row['order_id']}"
        row["items"][0]["discount"] = 5
    return pa.Table.from_pylist(old, schema=SCHEMA_V2)


def numbers(*values: tuple[str, int, float]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(["name", "hits", "ratio"], v, strict=True)) for v in values])


@pytest.fixture
def orders(table_store: TableStore) -> TableStore:
    table_store.ensure_table(ORDERS, SCHEMA, [PartitionField("placed_at", "day")])
    return table_store


def by_id(data: pa.Table) -> dict[int, dict[str, object]]:
    return {r["order_id"]: r for r in data.to_pylist()}


def test_new_columns_and_nested_fields_are_added_and_old_rows_read_null(orders: TableStore) -> None:
    orders.append(ORDERS, rows(1, 2), positions(1))
    history = orders.history(ORDERS)

    changes = orders.evolve_schema(ORDERS, SCHEMA_V2)

    assert set(changes) == {
        SchemaChange("add", "items[].discount", "int64"),
        SchemaChange("add", "coupon", "string"),
    }
    assert orders.history(ORDERS) == history  # a schema change is not a data commit
    schema = orders.schema(ORDERS)
    assert schema.names == [*SCHEMA.names, "coupon"]
    assert schema.field("coupon").nullable  # old rows have none
    assert schema.field("coupon").metadata[ID] == b"11"
    orders.append(ORDERS, rows_v2(3), positions(2))
    back = by_id(orders.read(ORDERS))
    assert sorted(back) == [1, 2, 3]
    assert back[1]["coupon"] is None
    assert back[1]["items"][0] == {"sku": "s1", "quantity": 1, "discount": None}  # type: ignore[index]
    assert back[3]["coupon"] == "SAVE3"
    assert back[3]["items"][0] == {"sku": "s3", "quantity": 3, "discount": 5}  # type: ignore[index]


def test_evolving_to_the_schema_the_table_has_changes_nothing(orders: TableStore) -> None:
    assert orders.evolve_schema(ORDERS, SCHEMA) == ()
    orders.evolve_schema(ORDERS, SCHEMA_V2)
    assert orders.evolve_schema(ORDERS, SCHEMA_V2) == ()
    assert orders.schema(ORDERS).names == [*SCHEMA.names, "coupon"]


def test_time_travel_reads_an_old_version_in_the_current_schema(orders: TableStore) -> None:
    first = orders.append(ORDERS, rows(1), positions(1))
    orders.evolve_schema(ORDERS, SCHEMA_V2)
    orders.append(ORDERS, rows_v2(2), positions(2))

    then = orders.read(ORDERS, as_of=first.version)
    assert then.column_names == [*SCHEMA.names, "coupon"]
    assert by_id(then)[1]["coupon"] is None
    assert order_ids(orders.read(ORDERS, columns=["order_id", "coupon"], as_of=first.version)) == [1]


def test_int32_and_float_widen_to_int64_and_double_keeping_the_rows(table_store: TableStore) -> None:
    table_store.ensure_table(NUMBERS, NUMBERS_SCHEMA)
    table_store.append(NUMBERS, numbers(("a", 7, 0.5)), positions(1))
    wide = pa.schema([f.with_type(pa.int64()) if f.name == "hits" else f for f in NUMBERS_SCHEMA])
    wide = pa.schema([f.with_type(pa.float64()) if f.name == "ratio" else f for f in wide])
    history = table_store.history(NUMBERS)

    changes = table_store.evolve_schema(NUMBERS, wide)

    assert {(c.kind, c.column) for c in changes} == {("widen", "hits"), ("widen", "ratio")}
    assert table_store.schema(NUMBERS).field("hits").type == pa.int64()
    assert table_store.schema(NUMBERS).field("ratio").type == pa.float64()
    assert table_store.history(NUMBERS) == history
    table_store.append(NUMBERS, numbers(("b", 2**40, 0.1)), positions(2))
    assert sorted(table_store.read(NUMBERS).to_pylist(), key=lambda r: r["name"]) == [
        {"name": "a", "hits": 7, "ratio": 0.5},
        {"name": "b", "hits": 2**40, "ratio": 0.1},
    ]


def test_a_nested_widening_on_a_partitioned_table_keeps_partitions_and_rows(orders: TableStore) -> None:
    orders.append(ORDERS, rows(1, 2), positions(1))
    item = pa.struct([ITEM.field("sku"), pa.field("quantity", pa.int64())])
    wide = pa.schema(
        [f.with_type(pa.list_(pa.field("element", item, nullable=False))) if f.name == "items" else f for f in SCHEMA]
    )

    assert [(c.kind, c.column) for c in orders.evolve_schema(ORDERS, wide)] == [("widen", "items[].quantity")]

    orders.append(ORDERS, rows(3).cast(wide), positions(2))
    back = by_id(orders.read(ORDERS))
    assert sorted(back) == [1, 2, 3]
    assert back[2]["items"][0] == {"sku": "s2", "quantity": 2}  # type: ignore[index]
    assert orders.schema(ORDERS).field("items").type.value_type.field("quantity").type == pa.int64()


def test_not_null_is_dropped_when_the_new_schema_allows_nulls(table_store: TableStore) -> None:
    table_store.ensure_table(NUMBERS, NUMBERS_SCHEMA)
    relaxed = pa.schema([f.with_nullable(True) if f.name == "hits" else f for f in NUMBERS_SCHEMA])

    assert table_store.evolve_schema(NUMBERS, relaxed) == (SchemaChange("nullable", "hits", "NOT NULL dropped"),)

    table_store.append(NUMBERS, pa.table({"name": ["x"], "hits": pa.array([None], pa.int32()), "ratio": [1.0]}))
    assert table_store.read(NUMBERS).column("hits").to_pylist() == [None]


def _replace(schema: pa.Schema, name: str, field: pa.Field | None) -> pa.Schema:
    return pa.schema([field if f.name == name else f for f in schema if f.name != name or field is not None])


REFUSED: dict[str, tuple[Callable[[], pa.Schema], str]] = {
    "column removed": (
        lambda: _replace(NUMBERS_SCHEMA, "ratio", None),
        r"column ratio: COLUMN_NO_DELETE",
    ),
    "type changed": (
        lambda: _replace(NUMBERS_SCHEMA, "hits", pa.field("hits", pa.string(), metadata={ID: b"2"})),
        r"column hits: COLUMN_SAME_TYPE: int32 cannot become string",
    ),
    "narrowed": (
        lambda: _replace(NUMBERS_SCHEMA, "ratio", pa.field("ratio", pa.float16(), metadata={ID: b"3"})),
        r"column ratio: COLUMN_SAME_TYPE: float cannot become halffloat",
    ),
    "field id changed": (
        lambda: _replace(NUMBERS_SCHEMA, "hits", pa.field("hits", pa.int32(), metadata={ID: b"9"})),
        r"column hits: COLUMN_SAME_ID: field id changed from 2 to 9",
    ),
    "field id reused": (
        lambda: NUMBERS_SCHEMA.append(pa.field("other", pa.string(), metadata={ID: b"3"})),
        r"column other: COLUMN_SAME_ID: field id 3 is already column ratio's",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_breaking_change_is_refused_naming_table_column_and_rule(table_store: TableStore, case: str) -> None:
    make_schema, message = REFUSED[case]
    table_store.ensure_table(NUMBERS, NUMBERS_SCHEMA)
    table_store.append(NUMBERS, numbers(("a", 1, 0.5)), positions(1))
    schema, history = table_store.schema(NUMBERS), table_store.history(NUMBERS)

    with pytest.raises(SchemaEvolutionError, match=rf"metrics\.numbers: .*{message}") as refused:
        table_store.evolve_schema(NUMBERS, make_schema())

    assert isinstance(refused.value, ValueError)
    assert table_store.schema(NUMBERS) == schema
    assert table_store.history(NUMBERS) == history
    assert table_store.read(NUMBERS).to_pylist() == [{"name": "a", "hits": 1, "ratio": 0.5}]


def test_a_nested_field_removed_is_refused(orders: TableStore) -> None:
    item = pa.struct([ITEM.field("sku")])
    narrowed = _replace(SCHEMA, "items", pa.field("items", pa.list_(pa.field("element", item, nullable=False))))
    with pytest.raises(SchemaEvolutionError, match=r"column items\[\]\.quantity: COLUMN_NO_DELETE"):
        orders.evolve_schema(ORDERS, narrowed)


@pytest.mark.parametrize("fmt", ["iceberg", "delta", "iceberg-s3", "delta-s3", "iceberg-rest"])
def test_an_evolved_schema_persists(tmp_path: Path, fmt: str, request: pytest.FixtureRequest) -> None:
    first = STORE_FACTORIES[fmt](request, tmp_path)
    first.ensure_table(ORDERS, SCHEMA, [PartitionField("placed_at", "day")])
    first.append(ORDERS, rows(1))
    first.evolve_schema(ORDERS, SCHEMA_V2)

    second = STORE_FACTORIES[fmt](request, tmp_path)
    assert second.schema(ORDERS) == first.schema(ORDERS)
    second.append(ORDERS, rows_v2(2))
    assert by_id(first.read(ORDERS))[2]["coupon"] == "SAVE2"


def test_iceberg_ids_of_new_columns_are_the_proto_number_and_fresh_nested_ids(tmp_path: Path) -> None:
    store = IcebergTableStore(tmp_path)
    store.ensure_table(ORDERS, SCHEMA)
    before = json.loads(Path(urlparse(store.location(ORDERS)).path).read_text())
    store.evolve_schema(ORDERS, SCHEMA_V2)

    metadata = json.loads(Path(urlparse(store.location(ORDERS)).path).read_text())
    assert len(metadata["schemas"]) == 2
    current = next(s for s in metadata["schemas"] if s["schema-id"] == metadata["current-schema-id"])
    top = {f["name"]: f for f in current["fields"]}
    assert top["coupon"]["id"] == 11
    assert top["coupon"]["required"] is False
    old_top = {f["name"]: f["id"] for f in before["schemas"][0]["fields"]}
    assert {name: f["id"] for name, f in top.items() if name != "coupon"} == old_top
    element = top["items"]["type"]["element"]["fields"]
    discount = next(f for f in element if f["name"] == "discount")
    assert discount["id"] == before["last-column-id"] + 1
    assert metadata["last-column-id"] == before["last-column-id"] + 1


RENAMED = TableId("metrics", "renamed")


def _renamable(top: str, x: str, text: str, sku: str, v: str) -> pa.Schema:
    """A table whose fields carry proto numbers at every depth (as `arrow_schema` gives them)."""

    def at(number: int) -> dict[bytes, bytes]:
        return {ID: str(number).encode()}

    label = pa.struct([pa.field(text, pa.string(), nullable=False, metadata=at(1))])
    point = pa.struct(
        [pa.field(x, pa.int64(), nullable=False, metadata=at(1)), pa.field("label", label, metadata=at(3))]
    )
    item = pa.struct([pa.field(sku, pa.string(), nullable=False, metadata=at(1))])
    value = pa.struct([pa.field(v, pa.int64(), nullable=False, metadata=at(1))])
    entries = pa.map_(
        pa.field("key", pa.string(), nullable=False, metadata=at(1)), pa.field("value", value, False, at(2))
    )
    return pa.schema(
        [
            pa.field(top, pa.string(), nullable=False, metadata=at(1)),
            pa.field("point", point, metadata=at(2)),
            pa.field("items", pa.list_(pa.field("element", item, nullable=False)), nullable=False, metadata=at(4)),
            pa.field("m", entries, nullable=False, metadata=at(5)),
        ]
    )


def _renamable_row(names: tuple[str, str, str, str, str], n: int) -> dict[str, object]:
    top, x, text, sku, v = names
    return {top: f"r{n}", "point": {x: n, "label": {text: f"t{n}"}}, "items": [{sku: f"s{n}"}], "m": [("k", {v: n})]}


def _ids(schema: pa.Schema) -> list[bytes]:
    """Every field id, depth first in field order."""

    def walk(field: pa.Field) -> list[bytes]:
        type_ = field.type
        children = (
            list(type_)
            if pa.types.is_struct(type_)
            else [type_.key_field, type_.item_field]
            if pa.types.is_map(type_)
            else [type_.value_field]
            if pa.types.is_list(type_)
            else []
        )
        return [(field.metadata or {}).get(ID, b""), *(i for c in children for i in walk(c))]

    return [i for f in schema for i in walk(f)]


def test_a_field_renamed_at_the_same_number_is_a_rename_at_every_depth(table_store: TableStore) -> None:
    """Same proto number, new name: the column keeps its id and its values (not a drop and an add)."""
    old, new = ("name", "x", "text", "sku", "v"), ("title", "east", "caption", "code", "w")
    table_store.ensure_table(RENAMED, _renamable(*old))
    table_store.append(RENAMED, pa.Table.from_pylist([_renamable_row(old, 1)], schema=_renamable(*old)))
    ids = _ids(table_store.schema(RENAMED))

    changes = table_store.evolve_schema(RENAMED, _renamable(*new))

    assert sorted(c.column for c in changes if c.kind == "rename") == [
        "items[].sku",
        "m.value.v",
        "name",
        "point.label.text",
        "point.x",
    ]
    assert _ids(table_store.schema(RENAMED)) == ids
    table_store.append(RENAMED, pa.Table.from_pylist([_renamable_row(new, 2)], schema=_renamable(*new)))
    assert table_store.read(RENAMED).sort_by("title").to_pylist() == [_renamable_row(new, 1), _renamable_row(new, 2)]


# Deleting rows.
def keys(*pairs: tuple[str, int]) -> pa.Table:
    return pa.table({"customer": [p[0] for p in pairs], "order_id": pa.array([p[1] for p in pairs], pa.int64())})


def test_delete_rows_removes_the_matching_rows_in_one_commit_with_its_properties(orders: TableStore) -> None:
    first = orders.append(ORDERS, rows(1, 2, 3), positions(1))
    orders.append(ORDERS, rows(4), positions(2))

    commit = orders.delete_rows(ORDERS, keys(("c1", 1), ("c4", 4), ("c2", 99)), {"meshlake.run_id": "r"})

    assert commit is not None
    assert orders.history(ORDERS)[-1] == commit
    assert len(orders.history(ORDERS)) == 3
    assert commit.properties == {"meshlake.run_id": "r"}
    assert order_ids(orders.read(ORDERS)) == [2, 3]
    assert order_ids(orders.read(ORDERS, as_of=first.version)) == [1, 2, 3]


def test_delete_rows_matching_nothing_commits_nothing(orders: TableStore) -> None:
    orders.append(ORDERS, rows(1), positions(1))
    history = orders.history(ORDERS)
    assert orders.delete_rows(ORDERS, keys(("c1", 2), ("c9", 1))) is None
    assert orders.delete_rows(ORDERS, keys()) is None
    assert orders.history(ORDERS) == history
    assert order_ids(orders.read(ORDERS)) == [1]


@pytest.mark.parametrize(
    ("bad_keys", "message"),
    [
        (pa.table({"coupon": ["x"]}), "coupon"),
        (pa.table({"amount": [1.5]}), "amount"),
    ],
)
def test_delete_keys_must_be_string_or_integer_columns_of_the_table(
    orders: TableStore, bad_keys: pa.Table, message: str
) -> None:
    orders.append(ORDERS, rows(1), positions(1))
    with pytest.raises(ValueError, match=rf"orders\.bronze_order_placed.*{message}"):
        orders.delete_rows(ORDERS, bad_keys)
    assert order_ids(orders.read(ORDERS)) == [1]
