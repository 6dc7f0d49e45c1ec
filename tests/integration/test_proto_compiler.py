"""Runtime .proto compilation with real protoc: errors, caching, comments and meshlake options."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from pipelines.adapters.protobuf import (
    EventOptions,
    SchemaCompileError,
    SchemaError,
    UnknownMessageError,
    compile_schemas,
)

SCHEMAS = Path(__file__).parents[2] / "schemas"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "proto"
ORDER = "meshlake.orders.v1.OrderPlaced"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_orders_compile_with_event_options_pii_and_docs() -> None:
    schemas = compile_schemas(SCHEMAS)

    assert schemas.event_options(ORDER) == EventOptions(
        event_id="event_id", entity_key="order_id", event_time="placed_at", partition="day(placed_at)"
    )
    assert schemas.field_pii(ORDER) == {"customer_id": "PII_PSEUDONYMOUS"}
    docs = schemas.comments(ORDER)
    assert docs[""] == "A customer placed an order."
    assert docs["order_id"] == "Id of the order."
    assert docs["items.sku"] == "Stock keeping unit of the product."
    assert "currency" in docs
    assert schemas.event_options("meshlake.orders.v1.LineItem") == EventOptions()
    assert schemas.field_pii("meshlake.orders.v1.LineItem") == {}


def test_messages_lists_definitions_under_root_only() -> None:
    schemas = compile_schemas(SCHEMAS)

    assert schemas.messages() == [  # meshlake's own options.proto is imported from the package, not listed
        "meshlake.orders.v1.LineItem",
        "meshlake.orders.v1.OrderCancelled",
        "meshlake.orders.v1.OrderItemReturned",
        ORDER,
        "meshlake.payments.v1.PaymentAuthorized",
        "meshlake.payments.v1.PaymentCaptured",
        "meshlake.payments.v1.RefundIssued",
        "meshlake.shipping.v1.DeliveryFailed",
        "meshlake.shipping.v1.ShipmentDelivered",
        "meshlake.shipping.v1.ShipmentDispatched",
    ]
    assert schemas.root == SCHEMAS.resolve()


def test_message_class_builds_and_parses_messages() -> None:
    schemas = compile_schemas(SCHEMAS)
    OrderPlaced = schemas.message_class(ORDER)

    event = OrderPlaced(order_id="o-1")
    event.items.add(sku="A", quantity=2)
    back = OrderPlaced.FromString(event.SerializeToString())

    assert back.order_id == "o-1"
    assert back.items[0].quantity == 2
    assert OrderPlaced.DESCRIPTOR is schemas.descriptor(ORDER)


def test_unknown_message_names_it_and_the_known_ones() -> None:
    schemas = compile_schemas(SCHEMAS)

    for lookup in (schemas.descriptor, schemas.message_class, schemas.event_options, schemas.comments):
        with pytest.raises(UnknownMessageError) as caught:
            lookup("meshlake.orders.v1.Nope")
        text = str(caught.value)
        assert text.startswith("unknown message 'meshlake.orders.v1.Nope' in ")
        assert "known: meshlake.orders.v1.LineItem, meshlake.orders.v1.OrderCancelled, " in text
        assert ORDER in text
        assert isinstance(caught.value, SchemaError)


def test_malformed_proto_names_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path / "a/v1/bad.proto",
        'syntax = "proto3";\npackage a.v1;\n\nmessage X {\n  string x = 1\n  int32 y = 2;\n}\n',
    )

    with pytest.raises(SchemaCompileError) as caught:
        compile_schemas(tmp_path)

    text = str(caught.value)
    assert f'{tmp_path}/a/v1/bad.proto:6:3: Expected ";"' in text
    assert "\n" not in text


def test_error_paths_are_relative_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "schemas/a/v1/bad.proto", 'syntax = "proto3";\npackage a.v1;\nmessage X { Nope n = 1; }\n')
    monkeypatch.chdir(tmp_path)

    with pytest.raises(SchemaCompileError, match=r'^schemas/a/v1/bad\.proto:3:13: "Nope" is not defined\.$'):
        compile_schemas(Path("schemas"))


def test_several_errors_and_missing_imports_stay_on_one_line(tmp_path: Path) -> None:
    write(
        tmp_path / "a/v1/bad.proto",
        'syntax = "proto3";\npackage a.v1;\nimport "missing.proto";\n'
        "message Y { Nope n = 1; string a = 2; int32 a = 3; }\n",
    )

    with pytest.raises(SchemaCompileError) as caught:
        compile_schemas(tmp_path)

    text = str(caught.value)
    assert "missing.proto: File not found." in text
    assert "bad.proto:3:1" in text
    assert '"a" is already defined' in text
    assert "\n" not in text


def test_files_selects_what_is_compiled(tmp_path: Path) -> None:
    write(
        tmp_path / "good/v1/good.proto",
        'syntax = "proto3";\npackage good.v1;\nmessage Fine { int32 a = 1; }\n',
    )
    write(tmp_path / "bad/v1/bad.proto", "this is not protobuf\n")

    schemas = compile_schemas(tmp_path, ["good/v1/good.proto"])

    assert schemas.messages() == ["good.v1.Fine"]
    with pytest.raises(SchemaCompileError, match=r"good/v1/gone\.proto: no such \.proto file"):
        compile_schemas(tmp_path, ["good/v1/gone.proto"])


def test_empty_root_is_a_schema_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"no \.proto files"):
        compile_schemas(tmp_path)


def test_repeated_calls_are_cached_until_a_file_changes(tmp_path: Path) -> None:
    proto = write(tmp_path / "c/v1/c.proto", 'syntax = "proto3";\npackage c.v1;\nmessage A { int32 a = 1; }\n')
    first = compile_schemas(tmp_path)

    assert compile_schemas(tmp_path) is first
    proto.write_text('syntax = "proto3";\npackage c.v1;\nmessage A { int32 a = 1; }\nmessage B { int32 b = 1; }\n')
    second = compile_schemas(tmp_path)
    assert second is not first
    assert second.messages() == ["c.v1.A", "c.v1.B"]


def test_compiling_a_few_files_takes_well_under_a_second(tmp_path: Path) -> None:
    shutil.copytree(SCHEMAS, tmp_path / "s")
    shutil.copytree(FIXTURES, tmp_path / "s", dirs_exist_ok=True)

    started = time.perf_counter()
    schemas = compile_schemas(tmp_path / "s")
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0
    assert "meshlake.kitchen.v1.Sink" in schemas.messages()


def test_kitchen_comments_cover_nested_and_map_value_fields() -> None:
    docs = compile_schemas(FIXTURES).comments("meshlake.kitchen.v1.Sink")

    assert docs[""] == "Every field type, cardinality and presence kind."
    assert docs["point.x"] == "Horizontal coordinate."
    assert docs["point.label.text"] == "Text of the label."
    assert docs["point.tags.text"] == "Text of the label."
    assert docs["m_points.value.x"] == "Horizontal coordinate."
    assert docs["last"] == "A field number far from its position."
    assert "f_int32" not in docs


def test_options_on_own_schema_skip_pii_none_and_read_partial_event(tmp_path: Path) -> None:
    write(
        tmp_path / "x/v1/x.proto",
        'syntax = "proto3";\npackage x.v1;\nimport "meshlake/options.proto";\n'
        'message E {\n  option (meshlake.event) = { entity_key: "k" };\n'
        "  string k = 1 [(meshlake.field) = {pii: PII_PERSONAL}];\n"
        "  string n = 2 [(meshlake.field) = {pii: PII_NONE}];\n"
        "  string s = 3 [(meshlake.field) = {pii: PII_SENSITIVE}];\n}\n",
    )

    schemas = compile_schemas(tmp_path, ["x/v1/x.proto"])

    assert schemas.event_options("x.v1.E") == EventOptions(entity_key="k")
    assert schemas.field_pii("x.v1.E") == {"k": "PII_PERSONAL", "s": "PII_SENSITIVE"}


def test_schemas_without_meshlake_options_have_none(tmp_path: Path) -> None:
    write(tmp_path / "p/v1/p.proto", 'syntax = "proto3";\npackage p.v1;\nmessage P { int32 a = 1; }\n')

    schemas = compile_schemas(tmp_path)

    assert schemas.event_options("p.v1.P") == EventOptions()
    assert schemas.field_pii("p.v1.P") == {}
