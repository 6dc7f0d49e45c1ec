"""Breaking-change rules: each rule refuses its change and lets the compatible neighbour through."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from google.protobuf.descriptor_pb2 import FileDescriptorSet

from pipelines.adapters.protobuf.compiler import compile_schemas
from pipelines.core.schema_rules import Violation, check_compatibility
from tests.paths import MESH

MESH_SCHEMAS = MESH / "schemas"

SHOP = """syntax = "proto3";
package shop.v1;

// Status of an order.
enum Status {
  STATUS_UNSPECIFIED = 0;
  STATUS_PLACED = 1;
  STATUS_PAID = 2;
}

// One line of an order.
message Item {
  string sku = 1;
}

// An order.
message Order {
  string id = 1;
  int32 quantity = 2;
  float price = 3;
  int64 total_cents = 4;
  repeated Item items = 5;
  Status status = 6;
  map<string, int32> attributes = 7;
  oneof payment {
    string card = 8;
    string iban = 9;
  }
  optional string coupon = 10;
  uint32 count = 11;
  // Where the order ships.
  message Address {
    string city = 1;
  }
  Address address = 12;
}
"""
ORDER_LINE = SHOP.splitlines().index("message Order {") + 1
PATH = "shop/v1/shop.proto"

CompileFiles = Callable[[dict[str, str]], FileDescriptorSet]
Check = Callable[..., list[Violation]]


@pytest.fixture(scope="module")
def compile_files(tmp_path_factory: pytest.TempPathFactory) -> CompileFiles:
    """Compile {path: text} with protoc; identical inputs share one directory (and one protoc run)."""
    base = tmp_path_factory.mktemp("schemas")

    def compile_(files: dict[str, str]) -> FileDescriptorSet:
        root = base / hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
        if not root.exists():
            for name, text in files.items():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_text(text)
        return compile_schemas(root).descriptor_set

    return compile_


@pytest.fixture(autouse=True)
def _temp_inside_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))


def edit(text: str, *replacements: tuple[str, str]) -> str:
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


@pytest.fixture
def check(compile_files: CompileFiles) -> Check:
    def check_(new: str | dict[str, str], old: str | dict[str, str] = SHOP) -> list[Violation]:
        old_files = old if isinstance(old, dict) else {PATH: old}
        new_files = new if isinstance(new, dict) else {PATH: new}
        return check_compatibility(compile_files(old_files), compile_files(new_files))

    return check_


def rules(violations: list[Violation]) -> list[tuple[str, str]]:
    return [(v.rule, v.element) for v in violations]


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(("", ""), id="unchanged"),
        pytest.param(("  string id = 1;\n", "  string id = 1;\n  string note = 13;\n"), id="add-field"),
        pytest.param(("// An order.", "message Refund {\n  string id = 1;\n}\n\n// An order."), id="add-message"),
        pytest.param(("  STATUS_PAID = 2;\n", "  STATUS_PAID = 2;\n  STATUS_SHIPPED = 3;\n"), id="add-enum-value"),
        pytest.param(("// An order.", "// An order placed by a customer,\n// with its lines."), id="comment"),
        pytest.param(("  string id = 1;", "  string id = 1;  // the order id"), id="trailing-comment"),
        pytest.param(("int32 quantity = 2;", "int64 quantity = 2;"), id="widen-int32-int64"),
        pytest.param(("uint32 count = 11;", "uint64 count = 11;"), id="widen-uint32-uint64"),
        pytest.param(("float price = 3;", "double price = 3;"), id="widen-float-double"),
        pytest.param(("map<string, int32>", "map<string, int64>"), id="widen-map-value"),
        pytest.param(
            ("  int64 total_cents = 4;\n", '  reserved 4;\n  reserved "total_cents";\n'), id="delete-reserved"
        ),
        pytest.param(("  Status status = 6;", "  optional Status status = 6;"), id="add-presence"),
        pytest.param(("    string iban = 9;\n", "    string iban = 9;\n    string paypal = 13;\n"), id="oneof-add"),
        pytest.param(("  string id = 1;", '  string id = 1 [json_name = "id"];'), id="json-name-default"),
    ],
)
def test_allowed_changes_pass(check: Check, change: tuple[str, str]) -> None:
    assert check(edit(SHOP, change)) == []


def test_a_message_may_move_to_another_file(check: Check) -> None:
    item = "// One line of an order.\nmessage Item {\n  string sku = 1;\n}\n"
    moved = edit(SHOP, (item, ""), ("package shop.v1;\n", 'package shop.v1;\n\nimport "shop/v1/item.proto";\n'))
    item_file = 'syntax = "proto3";\npackage shop.v1;\n\n' + item
    assert check({PATH: moved, "shop/v1/item.proto": item_file}) == []


def test_type_change_is_refused_at_the_new_line_with_the_buf_rule(check: Check) -> None:
    new = edit(SHOP, ("  int64 total_cents = 4;", "  // Now a decimal string.\n  string total_cents = 4;"))
    [violation] = check(new)
    line = line_of(new, "string total_cents")
    assert str(violation) == (
        f"{PATH}:{line}: shop.v1.Order.total_cents: FIELD_SAME_TYPE: type changed from int64 to string"
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("int64 total_cents = 4;", "int32 total_cents = 4;", "type changed from int64 to int32"),
        ("float price = 3;", "int32 price = 3;", "type changed from float to int32"),
        ("int32 quantity = 2;", "sint32 quantity = 2;", "type changed from int32 to sint32"),
        ("int32 quantity = 2;", "uint64 quantity = 2;", "type changed from int32 to uint64"),
        ("Status status = 6;", "int32 status = 6;", "type changed from shop.v1.Status to int32"),
        (
            "repeated Item items = 5;",
            "repeated Address items = 5;",
            "from shop.v1.Item to shop.v1.Order.Address",
        ),
        ("map<string, int32>", "map<string, string>", "from map<string, int32> to map<string, string>"),
        ("map<string, int32>", "map<int64, int32>", "from map<string, int32> to map<int64, int32>"),
    ],
)
def test_incompatible_type_changes_are_refused(check: Check, old: str, new: str, message: str) -> None:
    [violation] = check(edit(SHOP, (old, new)))
    assert violation.rule == "FIELD_SAME_TYPE"
    assert message in violation.message


@pytest.mark.parametrize(
    ("reserved", "rule"),
    [
        ("", "FIELD_NO_DELETE"),
        ("  reserved 4;\n", "FIELD_NO_DELETE_UNLESS_NAME_RESERVED"),
        ('  reserved "total_cents";\n', "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED"),
        ('  reserved 4, 20 to max;\n  reserved "total_cents";\n', None),
    ],
)
def test_a_deleted_field_needs_its_number_and_name_reserved(check: Check, reserved: str, rule: str | None) -> None:
    new = edit(SHOP, ("  float price = 3;\n  int64 total_cents = 4;\n", reserved + "  float price = 3;\n"))
    violations = check(new)
    if rule is None:
        assert violations == []
        return
    assert rules(violations) == [(rule, "shop.v1.Order.total_cents")]
    assert violations[0].line == ORDER_LINE  # the containing message, in the new file
    assert "field 4 deleted" in violations[0].message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"int64 total_cents = 4;": "int64 total_cents = 14;"},
            [("FIELD_SAME_NUMBER", "shop.v1.Order.total_cents", "number changed from 4 to 14")],
            id="renumbered",
        ),
        pytest.param(
            {"int64 total_cents = 4;": "int64 amount_cents = 4;"},
            [("FIELD_SAME_NAME", "shop.v1.Order.amount_cents", "field 4 renamed from total_cents to amount_cents")],
            id="number-reused",
        ),
        pytest.param(
            {"string card = 8;": "string card = 9;", "string iban = 9;": "string iban = 8;"},
            [
                ("FIELD_SAME_NAME", "shop.v1.Order.card", "field 9 renamed from iban to card"),
                ("FIELD_SAME_NAME", "shop.v1.Order.iban", "field 8 renamed from card to iban"),
            ],
            id="numbers-swapped",
        ),
        pytest.param(
            {"string id = 1;": 'string id = 1 [json_name = "orderId"];'},
            [("FIELD_SAME_JSON_NAME", "shop.v1.Order.id", "json_name changed from id to orderId")],
            id="json-name",
        ),
        pytest.param(
            {"STATUS_PAID = 2;": "STATUS_SETTLED = 2;"},
            [
                (
                    "ENUM_VALUE_SAME_NAME",
                    "shop.v1.Status.STATUS_SETTLED",
                    "value 2 renamed from STATUS_PAID to STATUS_SETTLED",
                )
            ],
            id="enum-value-renamed",
        ),
        pytest.param(
            {"STATUS_PAID = 2;": "STATUS_PAID = 5;"},
            [("ENUM_VALUE_SAME_NUMBER", "shop.v1.Status.STATUS_PAID", "number changed from 2 to 5")],
            id="enum-value-renumbered",
        ),
    ],
)
def test_a_changed_name_or_number_is_refused(
    check: Check, changes: dict[str, str], expected: list[tuple[str, ...]]
) -> None:
    assert [(v.rule, v.element, v.message) for v in check(edit(SHOP, *changes.items()))] == expected


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("repeated Item items = 5;", "Item items = 5;", "from repeated to singular"),
        ("string id = 1;", "repeated string id = 1;", "from singular to repeated"),
        ("optional string coupon = 10;", "repeated string coupon = 10;", "from singular to repeated"),
    ],
)
def test_a_cardinality_change_is_refused(check: Check, old: str, new: str, message: str) -> None:
    [violation] = check(edit(SHOP, (old, new)))
    assert violation.rule == "FIELD_SAME_CARDINALITY"
    assert message in violation.message


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ({"    string iban = 9;\n  }": "  }\n  string iban = 9;"}, "moved out of oneof payment"),
        ({"  string id = 1;": "  oneof key {\n    string id = 1;\n  }"}, "moved into oneof key"),
        ({"  oneof payment {": "  oneof method {"}, "moved from oneof payment to method"),
    ],
)
def test_a_oneof_change_is_refused(check: Check, new: dict[str, str], message: str) -> None:
    violations = check(edit(SHOP, *new.items()))
    assert {v.rule for v in violations} == {"FIELD_SAME_ONEOF"}
    assert message in violations[0].message


def test_unreserving_a_number_or_a_name_is_refused(check: Check) -> None:
    old = edit(SHOP, ("  string id = 1;\n", '  string id = 1;\n  reserved 20 to 22;\n  reserved "legacy";\n'))
    assert check(edit(old, ("20 to 22", "20 to max")), old=old) == []
    violations = check(edit(old, ("  reserved 20 to 22;\n", "  reserved 20, 22;\n"), ('"legacy"', '"other"')), old=old)
    assert [(v.rule, v.message) for v in violations] == [
        ("RESERVED_MESSAGE_NO_DELETE", 'reserved name "legacy" no longer reserved'),
        ("RESERVED_MESSAGE_NO_DELETE", "reserved number(s) 20 to 22 no longer reserved"),
    ]


@pytest.mark.parametrize(
    ("reserved", "rule"),
    [
        ("", "ENUM_VALUE_NO_DELETE"),
        ("  reserved 2;\n", "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED"),
        ('  reserved "STATUS_PAID";\n', "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED"),
        ('  reserved 2;\n  reserved "STATUS_PAID";\n', None),
    ],
)
def test_a_deleted_enum_value_needs_its_number_and_name_reserved(check: Check, reserved: str, rule: str | None) -> None:
    violations = check(edit(SHOP, ("  STATUS_PAID = 2;\n", reserved)))
    assert rules(violations) == ([(rule, "shop.v1.Status.STATUS_PAID")] if rule else [])


def test_an_alias_may_be_added_but_not_take_the_value(check: Check) -> None:
    aliased = ("enum Status {\n", "enum Status {\n  option allow_alias = true;\n")
    assert check(edit(SHOP, aliased, ("  STATUS_PAID = 2;\n", "  STATUS_PAID = 2;\n  STATUS_SETTLED = 2;\n"))) == []
    [violation] = check(edit(SHOP, aliased, ("  STATUS_PAID = 2;\n", "  STATUS_SETTLED = 2;\n  STATUS_DONE = 2;\n")))
    assert violation.rule == "ENUM_VALUE_SAME_NAME"


def test_a_deleted_enum_is_refused(check: Check) -> None:
    old = edit(SHOP, ("Status status = 6;", "int32 status = 6;"))
    new = edit(old, ("// Status of an order.\nenum Status {\n", "/*\n"), ("  STATUS_PAID = 2;\n}\n", "*/\n"))
    [violation] = check(new, old=old)
    assert (violation.rule, violation.element) == ("ENUM_NO_DELETE", "shop.v1.Status")
    assert violation.line == 2  # the package statement of the file that held it


def test_a_deleted_or_renamed_message_is_refused(check: Check) -> None:
    [violation] = check(
        edit(
            SHOP,
            ("  // Where the order ships.", '  reserved 12;\n  reserved "address";\n  /*'),
            ("    string city = 1;\n  }\n  Address address = 12;", "  */"),
        )
    )
    assert (violation.rule, violation.element) == ("MESSAGE_NO_DELETE", "shop.v1.Order.Address")
    assert violation.line == ORDER_LINE
    violations = check(edit(SHOP, ("message Item {", "message LineItem {"), ("repeated Item", "repeated LineItem")))
    assert rules(violations) == [
        ("MESSAGE_NO_DELETE", "shop.v1.Item"),
        ("FIELD_SAME_TYPE", "shop.v1.Order.items"),
    ]
    assert "from shop.v1.Item to shop.v1.LineItem" in violations[1].message


def test_a_renamed_package_is_one_violation(check: Check) -> None:
    [violation] = check(edit(SHOP, ("package shop.v1;", "package shop.v2;")))
    assert str(violation) == f"{PATH}:2: shop.v1: PACKAGE_NO_DELETE: package deleted (renamed to shop.v2?)"


def test_a_deleted_file_is_refused(check: Check) -> None:
    other = 'syntax = "proto3";\npackage shop.v1;\n\nmessage Refund {\n  string id = 1;\n}\n'
    old = {PATH: SHOP, "shop/v1/refund.proto": other}
    [violation] = check({PATH: SHOP}, old=old)
    assert str(violation) == "shop/v1/refund.proto:1: shop.v1: FILE_NO_DELETE: file shop/v1/refund.proto deleted"
    violations = check(
        {"billing.proto": other.replace("shop.v1", "billing")},
        old={"billing/b.proto": other.replace("shop.v1", "billing")},
    )
    assert rules(violations) == [("FILE_NO_DELETE", "billing")]
    violations = check({PATH: SHOP}, old={PATH: SHOP, "refund.proto": other.replace("shop.v1", "refunds")})
    assert rules(violations) == [("FILE_NO_DELETE", "refunds"), ("PACKAGE_NO_DELETE", "refunds")]


def test_a_syntax_change_is_refused(check: Check) -> None:
    proto2 = 'syntax = "proto2";\npackage p;\n\nmessage M {\n  optional string id = 1;\n}\n'
    [violation] = check(
        {"p.proto": proto2.replace("proto2", "proto3").replace("optional ", "")}, old={"p.proto": proto2}
    )
    assert (violation.rule, violation.message) == ("FILE_SAME_SYNTAX", "syntax changed from proto2 to proto3")


def test_imported_well_known_types_are_not_checked(check: Check) -> None:
    with_time = edit(
        SHOP,
        ("package shop.v1;\n", 'package shop.v1;\n\nimport "google/protobuf/timestamp.proto";\n'),
        ("  uint32 count = 11;", "  uint32 count = 11;\n  google.protobuf.Timestamp at = 13;"),
    )
    without = edit(
        with_time,
        ("  google.protobuf.Timestamp at = 13;", '  reserved 13;\n  reserved "at";'),
        ('import "google/protobuf/timestamp.proto";\n', ""),
    )
    assert check(without, old=with_time) == []


def test_violations_are_sorted_one_line_each_and_prefixed(compile_files: CompileFiles) -> None:
    old = compile_files({PATH: SHOP})
    new = compile_files({PATH: edit(SHOP, ("string id = 1;", "bytes id = 1;"), ("STATUS_PAID = 2;", "STATUS_X = 2;"))})
    lines = [str(v) for v in check_compatibility(old, new, file_prefix="schemas/")]
    assert lines == [
        "schemas/shop/v1/shop.proto:8: shop.v1.Status.STATUS_X: ENUM_VALUE_SAME_NAME: "
        "value 2 renamed from STATUS_PAID to STATUS_X",
        f"schemas/shop/v1/shop.proto:{ORDER_LINE + 1}: shop.v1.Order.id: FIELD_SAME_TYPE: "
        "type changed from string to bytes",
    ]


def test_the_orders_contract_refuses_a_retyped_total(compile_files: CompileFiles) -> None:
    files = {str(p.relative_to(MESH_SCHEMAS)): p.read_text() for p in MESH_SCHEMAS.rglob("*.proto")}
    orders = "orders/v1/orders.proto"
    changed = {**files, orders: edit(files[orders], ("int64 total_cents = 7;", "string total_cents = 7;"))}
    assert check_compatibility(compile_files(files), compile_files(files)) == []
    [violation] = check_compatibility(compile_files(files), compile_files(changed), file_prefix="schemas/")
    line = line_of(files[orders], "total_cents = 7")
    assert str(violation) == (
        f"schemas/orders/v1/orders.proto:{line}: meshlake.orders.v1.OrderPlaced.total_cents: "
        "FIELD_SAME_TYPE: type changed from int64 to string"
    )
