"""One behaviour suite for every TableStore: Iceberg (SQLite catalog), Delta and in-memory."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pytest

from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.adapters.iceberg.schema_ids import NESTED_ID_START, UNNUMBERED_ID_START
from pipelines.adapters.table_stores import known_formats, open_table_store
from pipelines.core.commits import TableFormat
from pipelines.core.names import TableId
from pipelines.core.positions import POSITIONS_PROPERTY
from pipelines.ports.table_store import PartitionField, TableNotFoundError, TableStore
from tests.contract.conftest import STORE_FACTORIES

ORDERS = TableId("orders", "bronze_order_placed")

ITEM = pa.struct([pa.field("sku", pa.string(), nullable=False), pa.field("quantity", pa.int32())])
INGEST = pa.struct([pa.field("source", pa.string(), nullable=False), pa.field("offset", pa.int64())])
SCHEMA = pa.schema(
    [
        pa.field("order_id", pa.int64(), nullable=False, metadata={"PARQUET:field_id": "1"}),
        pa.field("placed_at", pa.timestamp("us", tz="UTC"), metadata={"PARQUET:field_id": "2"}),
        pa.field("customer", pa.string(), metadata={"PARQUET:field_id": "3"}),
        pa.field("amount", pa.float64(), metadata={"PARQUET:field_id": "5"}),
        pa.field(
            "items",
            pa.list_(pa.field("element", ITEM, nullable=False)),
            metadata={"PARQUET:field_id": "7"},
        ),
        pa.field("labels", pa.map_(pa.string(), pa.string()), metadata={"PARQUET:field_id": "8"}),
        pa.field("_ingest", INGEST, nullable=False),
    ]
)
FIELD_IDS = {"order_id": 1, "placed_at": 2, "customer": 3, "amount": 5, "items": 7, "labels": 8}


def rows(*ids: int) -> pa.Table:
    """Orders with every kind of column, `placed_at` on 2024-03-(id) at 23:59:59.123456 UTC."""
    return pa.Table.from_pylist(
        [
            {
                "order_id": i,
                "placed_at": datetime(2024, 3, i, 23, 59, 59, 123456, tzinfo=UTC),
                "customer": f"c{i}",
                "amount": i * 1.5,
                "items": [{"sku": f"s{i}", "quantity": i}, {"sku": "x", "quantity": None}],
                "labels": [("channel", "web"), ("n", str(i))],
                "_ingest": {"source": "landing/a.pb", "offset": i * 10},
            }
            for i in ids
        ],
        schema=SCHEMA,
    )


def positions(n: int) -> dict[str, str]:
    return {POSITIONS_PROPERTY: json.dumps([["landing/a.pb", n, n + 1]]), "meshlake.run_id": f"run-{n}"}


def order_ids(data: pa.Table) -> list[int]:
    return sorted(data.column("order_id").to_pylist())


def sorted_rows(data: pa.Table) -> list[dict[str, object]]:
    return sorted(data.to_pylist(), key=lambda r: r["order_id"])


@pytest.fixture
def orders(table_store: TableStore) -> TableStore:
    table_store.ensure_table(ORDERS, SCHEMA)
    return table_store


def test_every_store_is_a_table_store_of_its_format(table_store: TableStore, request: pytest.FixtureRequest) -> None:
    assert isinstance(table_store, TableStore)
    assert table_store.format == TableFormat(request.node.callspec.params["open_store"].split("-")[0])


def test_ensure_table_creates_once_and_leaves_an_existing_table_alone(table_store: TableStore) -> None:
    assert not table_store.exists(ORDERS)
    table_store.ensure_table(ORDERS, SCHEMA)
    table_store.append(ORDERS, rows(1))
    table_store.ensure_table(ORDERS, pa.schema([pa.field("other", pa.string())]))

    assert table_store.exists(ORDERS)
    assert table_store.schema(ORDERS).names == SCHEMA.names
    assert order_ids(table_store.read(ORDERS)) == [1]
    assert len(table_store.history(ORDERS)) == 1


def test_a_dropped_table_is_gone_and_its_name_takes_a_new_schema(
    open_store: Callable[[], TableStore], stored_files: Callable[[], list[str]]
) -> None:
    store = open_store()
    store.ensure_table(ORDERS, SCHEMA)
    store.append(ORDERS, rows(1, 2))
    other = TableId("orders", "other")
    store.ensure_table(other, SCHEMA)
    store.append(other, rows(3))

    store.drop_table(ORDERS)
    store.drop_table(ORDERS)  # dropping what is not there is no error

    assert not store.exists(ORDERS) and not open_store().exists(ORDERS)
    with pytest.raises(TableNotFoundError):
        store.read(ORDERS)
    assert order_ids(store.read(other)) == [3]  # other tables are untouched
    renamed = pa.schema([pa.field("id", pa.string(), metadata={"PARQUET:field_id": "1"})])
    store.ensure_table(ORDERS, renamed)
    store.append(ORDERS, pa.table({"id": ["a"]}, schema=renamed))
    assert store.schema(ORDERS).names == ["id"] and store.read(ORDERS).column("id").to_pylist() == ["a"]
    assert len(store.history(ORDERS)) == 1
    if store.format is not TableFormat.MEMORY:  # the old table's files are deleted, not left behind
        old_files = [p for p in stored_files() if p.endswith(".parquet") and "other" not in p.split("/")]
        assert len(old_files) == 1, old_files


def test_a_new_table_is_empty_with_no_history(orders: TableStore) -> None:
    assert orders.history(ORDERS) == []
    empty = orders.read(ORDERS)
    assert empty.num_rows == 0
    assert empty.schema.names == SCHEMA.names


def test_schema_keeps_columns_types_nullability_and_top_level_field_ids(orders: TableStore) -> None:
    schema = orders.schema(ORDERS)

    assert schema.names == SCHEMA.names
    for expected in SCHEMA:
        actual = schema.field(expected.name)
        assert actual.type.equals(expected.type), expected.name
        assert actual.nullable == expected.nullable, expected.name
    declared = {f.name: int(f.metadata[b"PARQUET:field_id"]) for f in schema if f.name in FIELD_IDS}
    assert declared == FIELD_IDS


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.append(TableId("orders", "missing"), rows(1)),
        lambda s: s.overwrite(TableId("orders", "missing"), rows(1)),
        lambda s: s.read(TableId("orders", "missing")),
        lambda s: s.schema(TableId("orders", "missing")),
        lambda s: s.history(TableId("orders", "missing")),
        lambda s: s.location(TableId("orders", "missing")),
    ],
    ids=["append", "overwrite", "read", "schema", "history", "location"],
)
def test_a_missing_table_raises_table_not_found_naming_it(
    table_store: TableStore, call: Callable[[TableStore], object]
) -> None:
    with pytest.raises(TableNotFoundError, match=r"orders\.missing") as raised:
        call(table_store)
    assert raised.value.table == TableId("orders", "missing")
    assert not table_store.exists(TableId("orders", "missing"))


def test_each_append_is_one_commit_carrying_its_properties_in_order(orders: TableStore) -> None:
    returned = [orders.append(ORDERS, rows(n), positions(n)) for n in (1, 2, 3)]

    history = orders.history(ORDERS)
    assert history == returned
    assert [c.sequence for c in history] == [1, 2, 3]
    assert [c.properties for c in history] == [positions(1), positions(2), positions(3)]
    assert len({c.version for c in history}) == 3
    assert [c.timestamp_ms for c in history] == sorted(c.timestamp_ms for c in history)
    assert history[0].timestamp_ms > 1_600_000_000_000
    if orders.format is not TableFormat.ICEBERG:  # Iceberg snapshot ids are opaque
        assert [c.version for c in history] == sorted(c.version for c in history)
    assert order_ids(orders.read(ORDERS)) == [1, 2, 3]


def test_time_travel_reads_the_first_version_after_three_appends(orders: TableStore) -> None:
    for n in (1, 2, 3):
        orders.append(ORDERS, rows(n), positions(n))
    first, second, _ = orders.history(ORDERS)

    assert order_ids(orders.read(ORDERS, as_of=first.version)) == [1]
    assert order_ids(orders.read(ORDERS, as_of=second.version)) == [1, 2]
    assert order_ids(orders.read(ORDERS, columns=["order_id"], as_of=first.version)) == [1]
    assert order_ids(orders.read(ORDERS)) == [1, 2, 3]


def test_reading_an_unknown_version_is_refused(orders: TableStore) -> None:
    orders.append(ORDERS, rows(1))
    with pytest.raises(ValueError, match="no version 987654321"):
        orders.read(ORDERS, as_of=987654321)


def test_overwrite_replaces_all_rows_in_one_commit(orders: TableStore) -> None:
    orders.append(ORDERS, rows(1, 2), positions(1))
    commit = orders.overwrite(ORDERS, rows(3), {"meshlake.upstream": '{"orders.silver":7}'})

    assert orders.history(ORDERS)[-1] == commit
    assert len(orders.history(ORDERS)) == 2
    assert commit.properties == {"meshlake.upstream": '{"orders.silver":7}'}
    assert order_ids(orders.read(ORDERS)) == [3]
    assert order_ids(orders.read(ORDERS, as_of=orders.history(ORDERS)[0].version)) == [1, 2]


def test_empty_writes_still_commit_their_properties(orders: TableStore) -> None:
    orders.append(ORDERS, rows(1), positions(1))
    empty_append = orders.append(ORDERS, rows(), positions(2))
    assert orders.history(ORDERS)[-1] == empty_append
    assert empty_append.properties == positions(2)
    assert order_ids(orders.read(ORDERS)) == [1]

    emptied = orders.overwrite(ORDERS, rows(), positions(3))
    assert [c.properties for c in orders.history(ORDERS)] == [positions(1), positions(2), positions(3)]
    assert emptied.sequence == 3
    assert orders.read(ORDERS).num_rows == 0


NULL_STRUCT_CHILD = pa.array(
    [{"source": None, "offset": 1}], pa.struct([("source", pa.string()), ("offset", pa.int64())])
)
BAD_WRITES: dict[str, tuple[Callable[[], pa.Table], str]] = {
    "missing column": (lambda: rows(9).drop_columns(["customer"]), "customer"),
    "unexpected column": (lambda: rows(9).append_column("coupon", pa.array(["x"])), "coupon"),
    "wrong type": (lambda: rows(9).set_column(3, "amount", pa.array(["1.5"])), "amount"),
    "null in non-nullable": (lambda: rows(9).set_column(0, "order_id", pa.array([None], pa.int64())), "order_id"),
    "lossy cast": (lambda: rows(9).set_column(0, "order_id", pa.array([2**64 - 1], pa.uint64())), "order_id"),
    "null list element": (lambda: rows(9).set_column(4, "items", pa.array([[None]], pa.list_(ITEM))), r"items\[\]"),
    "null struct child": (lambda: rows(9).set_column(6, "_ingest", NULL_STRUCT_CHILD), r"_ingest.*source"),
}


@pytest.mark.parametrize("mode", ["append", "overwrite"])
@pytest.mark.parametrize("case", sorted(BAD_WRITES))
def test_a_refused_write_names_table_and_column_and_changes_nothing(orders: TableStore, case: str, mode: str) -> None:
    make_data, column = BAD_WRITES[case]
    orders.append(ORDERS, rows(1, 2), positions(1))
    history, before = orders.history(ORDERS), orders.read(ORDERS)

    with pytest.raises(ValueError, match=rf"orders\.bronze_order_placed.*{column}"):
        getattr(orders, mode)(ORDERS, make_data(), positions(2))

    assert orders.history(ORDERS) == history
    assert sorted_rows(orders.read(ORDERS)) == sorted_rows(before)


def test_commit_properties_must_be_meshlake_strings(orders: TableStore) -> None:
    with pytest.raises(ValueError, match="meshlake"):
        orders.append(ORDERS, rows(1), {"positions": "[]"})
    assert orders.history(ORDERS) == []
    assert orders.read(ORDERS).num_rows == 0


def test_data_of_the_same_kind_is_cast_to_the_table_types(orders: TableStore) -> None:
    data = rows(1)
    order = ["customer", *[n for n in data.column_names if n != "customer"]]
    data = data.select(order)  # another column order
    data = data.set_column(order.index("order_id"), "order_id", pa.array([1], pa.int32()))
    data = data.set_column(order.index("customer"), "customer", pa.array(["c1"], pa.large_string()))
    data = data.set_column(
        order.index("placed_at"),
        "placed_at",
        pa.array([datetime(2024, 3, 1, tzinfo=UTC)], pa.timestamp("ms", "UTC")),
    )

    orders.append(ORDERS, data)

    back = orders.read(ORDERS)
    assert back.schema.field("order_id").type == pa.int64()
    assert back.to_pylist()[0]["customer"] == "c1"
    assert back.to_pylist()[0]["placed_at"] == datetime(2024, 3, 1, tzinfo=UTC)


def test_nested_columns_and_utc_timestamps_round_trip(orders: TableStore) -> None:
    orders.append(ORDERS, rows(1, 2))

    back = orders.read(ORDERS)
    assert sorted_rows(back) == sorted_rows(rows(1, 2))
    for field in orders.schema(ORDERS):
        assert back.schema.field(field.name).type.equals(field.type), field.name
    assert back.schema.field("placed_at").type == pa.timestamp("us", tz="UTC")
    first = sorted_rows(back)[0]
    assert first["placed_at"] == datetime(2024, 3, 1, 23, 59, 59, 123456, tzinfo=UTC)
    assert first["placed_at"].utcoffset().total_seconds() == 0  # type: ignore[attr-defined]


def test_read_projects_the_requested_columns_in_order(orders: TableStore) -> None:
    orders.append(ORDERS, rows(1, 2))

    projected = orders.read(ORDERS, columns=["labels", "order_id"])

    assert projected.column_names == ["labels", "order_id"]
    assert projected.schema.field("order_id").type == pa.int64()
    assert sorted(projected.to_pylist(), key=lambda r: r["order_id"])[1] == {
        "labels": [("channel", "web"), ("n", "2")],
        "order_id": 2,
    }
    with pytest.raises(ValueError, match="coupon"):
        orders.read(ORDERS, columns=["order_id", "coupon"])


def test_unsigned_integers_are_widened_so_no_value_overflows(table_store: TableStore) -> None:
    counters = TableId("metrics", "counters")
    table_store.ensure_table(counters, pa.schema([pa.field("hits", pa.uint32(), metadata={"PARQUET:field_id": "1"})]))

    table_store.append(counters, pa.table({"hits": pa.array([3_000_000_000], pa.uint32())}))

    assert table_store.schema(counters).field("hits").type == pa.int64()
    assert table_store.read(counters).column("hits").to_pylist() == [3_000_000_000]


def test_uint64_and_durations_are_stored_without_loss(table_store: TableStore) -> None:
    """uint64 becomes decimal(20,0) and a duration int64 microseconds, nested ones too (no format has either)."""
    table = TableId("metrics", "big")
    nested = pa.struct([pa.field("ids", pa.list_(pa.field("element", pa.uint64(), nullable=False)), nullable=False)])
    schema = pa.schema(
        [
            pa.field("big", pa.uint64(), metadata={"PARQUET:field_id": "1"}),
            pa.field("took", pa.duration("us"), metadata={"PARQUET:field_id": "2"}),
            pa.field("inner", nested, metadata={"PARQUET:field_id": "3"}),
        ]
    )
    table_store.ensure_table(table, schema)
    data = {"big": [2**64 - 1, 0], "took": [-7, 86_400_000_000], "inner": [{"ids": [2**63]}, {"ids": []}]}
    table_store.append(table, pa.table(data, schema=schema))

    stored = table_store.schema(table)
    assert (stored.field("big").type, stored.field("took").type) == (pa.decimal128(20, 0), pa.int64())
    rows = [dict(zip(data, row, strict=True)) for row in zip(*data.values(), strict=True)]
    assert table_store.read(table).to_pylist() == rows


def test_partitioned_tables_read_and_write_like_any_other(table_store: TableStore) -> None:
    daily = TableId("orders", "daily")
    table_store.ensure_table(daily, SCHEMA, [PartitionField("placed_at", "day"), PartitionField("customer")])
    monthly = TableId("orders", "monthly")
    table_store.ensure_table(monthly, SCHEMA, [PartitionField("placed_at", "month")])

    for table in (daily, monthly):
        table_store.append(table, rows(1, 2, 3))
        table_store.overwrite(table, rows(2, 3))
        assert table_store.schema(table).names == SCHEMA.names
        assert sorted_rows(table_store.read(table)) == sorted_rows(rows(2, 3))


@pytest.mark.parametrize(
    ("partition", "message"),
    [
        (PartitionField("nope", "day"), "nope"),
        (PartitionField("customer", "day"), "customer"),
        (PartitionField("items"), "items"),
    ],
)
def test_partitioning_that_does_not_fit_the_schema_is_refused(
    table_store: TableStore, partition: PartitionField, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        table_store.ensure_table(ORDERS, SCHEMA, [partition])
    assert not table_store.exists(ORDERS)


def test_location_is_a_uri(orders: TableStore, request: pytest.FixtureRequest) -> None:
    """A URI of the store's own storage: an `-s3` store's tables are under the test's prefix, not on the disk."""
    orders.append(ORDERS, rows(1))
    location, name = orders.location(ORDERS), request.node.callspec.params["open_store"]
    if name.endswith("-s3"):
        assert location.startswith(f"{request.getfixturevalue('s3_prefix')}/"), location
    else:
        assert urlparse(location).scheme == ("memory" if name == "memory" else "file"), location


@pytest.mark.parametrize("fmt", ["iceberg", "delta", "iceberg-s3", "delta-s3", "iceberg-rest"])
def test_a_new_store_on_the_same_directory_sees_the_same_tables(
    tmp_path: Path, fmt: str, request: pytest.FixtureRequest
) -> None:
    """Persistence: the stores on disk or S3 (the memory store keeps nothing between store objects)."""

    def open_store() -> TableStore:
        return STORE_FACTORIES[fmt](request, tmp_path)

    first = open_store()
    first.ensure_table(ORDERS, SCHEMA, [PartitionField("placed_at", "day")])
    commits = [first.append(ORDERS, rows(n), positions(n)) for n in (1, 2)]

    second = open_store()

    assert second.exists(ORDERS)
    assert second.history(ORDERS) == commits
    assert second.schema(ORDERS).names == SCHEMA.names
    assert sorted_rows(second.read(ORDERS)) == sorted_rows(rows(1, 2))
    assert second.location(ORDERS) == first.location(ORDERS)
    second.append(ORDERS, rows(3))
    assert order_ids(first.read(ORDERS)) == [1, 2, 3]


# Format-specific guarantees.
def test_iceberg_field_ids_are_the_declared_proto_numbers(tmp_path: Path) -> None:
    store = IcebergTableStore(tmp_path)
    store.ensure_table(ORDERS, SCHEMA, [PartitionField("placed_at", "day")])

    location = store.location(ORDERS)
    assert location.startswith((tmp_path / "orders" / "bronze_order_placed" / "metadata" / "00000-").as_uri())
    metadata = json.loads(Path(urlparse(location).path).read_text())
    assert metadata["format-version"] == 2
    (schema,) = metadata["schemas"]
    top = {f["name"]: f["id"] for f in schema["fields"]}
    assert {name: top[name] for name in FIELD_IDS} == FIELD_IDS
    assert top["_ingest"] == UNNUMBERED_ID_START
    items = next(f for f in schema["fields"] if f["name"] == "items")
    assert items["type"]["element-id"] == NESTED_ID_START
    assert [f["id"] for f in items["type"]["element"]["fields"]] == [NESTED_ID_START + 1, NESTED_ID_START + 2]
    assert metadata["last-column-id"] == UNNUMBERED_ID_START  # the highest id
    (spec,) = metadata["partition-specs"]
    assert spec["fields"] == [{"source-id": 2, "field-id": 1000, "transform": "day", "name": "placed_at_day"}]


def test_iceberg_ids_stay_the_declared_ones_after_writes(tmp_path: Path) -> None:
    store = IcebergTableStore(tmp_path)
    store.ensure_table(ORDERS, SCHEMA)
    store.append(ORDERS, rows(1))
    store.overwrite(ORDERS, rows(2))
    metadata = json.loads(Path(urlparse(store.location(ORDERS)).path).read_text())
    top = {f["name"]: f["id"] for f in metadata["schemas"][-1]["fields"]}
    assert {name: top[name] for name in FIELD_IDS} == FIELD_IDS
    assert [s["summary"]["operation"] for s in metadata["snapshots"]] == ["append", "overwrite"]


def test_delta_day_partitions_are_a_hidden_generated_date_column(tmp_path: Path) -> None:
    store = open_table_store("delta", tmp_path)
    store.ensure_table(ORDERS, SCHEMA, [PartitionField("placed_at", "day")])
    store.append(ORDERS, rows(1, 2))

    table_dir = tmp_path / "delta" / "orders" / "bronze_order_placed"
    assert sorted(p.name for p in table_dir.glob("_part_placed_at_day=*")) == [
        f"_part_placed_at_day={date(2024, 3, d)}" for d in (1, 2)
    ]
    assert "_part_placed_at_day" not in store.schema(ORDERS).names
    assert "_part_placed_at_day" not in store.read(ORDERS).column_names


# The registry.
@pytest.mark.parametrize("name", ["iceberg", "delta", "memory"])
def test_the_registry_opens_every_format_by_name(tmp_path: Path, name: str) -> None:
    store = open_table_store(name, tmp_path)
    assert store.format == TableFormat(name)
    assert isinstance(store, TableStore)


def test_the_registry_refuses_an_unknown_format_listing_the_known_ones(tmp_path: Path) -> None:
    assert known_formats() == ["iceberg", "delta", "memory"]
    with pytest.raises(ValueError, match=r"hudi.*iceberg, delta, memory"):
        open_table_store("hudi", tmp_path)


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_large_writes_are_split_into_row_groups_readers_can_parallelise(
    tmp_path: Path, fmt: str, request: pytest.FixtureRequest
) -> None:
    """DuckDB and Polars give each core a row group: a 300k-row write must not be one row group.

    (The memory store writes no files.)
    """
    import pyarrow.parquet as pq

    from pipelines.ports.table_store import ROW_GROUP_ROWS

    store = STORE_FACTORIES[fmt](request, tmp_path)
    one = rows(1)
    many = pa.Table.from_batches([one.to_batches()[0]] * 300_000).combine_chunks()
    store.ensure_table(ORDERS, SCHEMA, [])
    store.append(ORDERS, many)
    files = list(tmp_path.rglob("*.parquet"))
    assert files
    groups = [pq.ParquetFile(p).metadata for p in files]
    assert sum(m.num_row_groups for m in groups) >= 300_000 // ROW_GROUP_ROWS
    assert max(m.row_group(i).num_rows for m in groups for i in range(m.num_row_groups)) <= ROW_GROUP_ROWS


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_every_data_file_is_zstd_compressed(tmp_path: Path, fmt: str, request: pytest.FixtureRequest) -> None:
    """Both formats store data with the same codec, so sizes and scan speeds compare like for like."""
    import pyarrow.parquet as pq

    store = STORE_FACTORIES[fmt](request, tmp_path)
    store.ensure_table(ORDERS, SCHEMA, [])
    store.append(ORDERS, rows(*range(1, 29)))
    store.overwrite(ORDERS, rows(*range(1, 11)))
    store.delete_rows(ORDERS, pa.table({"order_id": pa.array([3], pa.int64())}))
    files = list(tmp_path.rglob("*.parquet"))
    assert len(files) >= 2
    codecs = {
        meta.row_group(g).column(c).compression
        for meta in (pq.ParquetFile(p).metadata for p in files)
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    }
    assert codecs == {"ZSTD"}
