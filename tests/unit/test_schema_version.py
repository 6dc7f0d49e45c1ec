"""Reading compiled schemas: field descriptions and the schema fingerprint of a message."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from google.protobuf.descriptor_pb2 import FileDescriptorSet

from pipelines.adapters.protobuf.compiler import compile_schemas
from pipelines.core.schema_version import (
    cardinality,
    field_type,
    iter_types,
    json_name,
    real_oneof,
    render_type,
    schema_fingerprint,
)

SHOP = """syntax = "proto3";
package shop.v1;

enum Status {
  STATUS_UNSPECIFIED = 0;
  STATUS_PAID = 1;
}

message Item {
  string sku = 1;
}

// An order.
message Order {
  string order_id = 1;
  repeated Item items = 2;
  map<string, Status> states = 3;
  oneof payment {
    string card = 4;
  }
  optional int64 total_cents = 5 [json_name = "total"];
}
"""

CompileText = Callable[[str], FileDescriptorSet]


@pytest.fixture
def compile_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CompileText:
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    count = iter(range(100))

    def compile_(text: str) -> FileDescriptorSet:
        root = tmp_path / f"v{next(count)}"
        (root / "shop").mkdir(parents=True)
        (root / "shop" / "shop.proto").write_text(text)
        return compile_schemas(root).descriptor_set

    return compile_


def test_types_and_fields_are_described(compile_text: CompileText) -> None:
    types = {t.full_name: t for t in iter_types(compile_text(SHOP))}
    assert list(types) == ["shop.v1.Status", "shop.v1.Item", "shop.v1.Order", "shop.v1.Order.StatesEntry"]
    assert (types["shop.v1.Order"].path, types["shop.v1.Order.StatesEntry"].parent) == ((4, 1), "shop.v1.Order")
    order = types["shop.v1.Order"].proto
    described = [
        (render_type(field_type(f, types)), cardinality(f), json_name(f), real_oneof(order, f)) for f in order.field
    ]
    assert described == [
        ("string", "singular", "orderId", None),
        ("shop.v1.Item", "repeated", "items", None),
        ("map<string, shop.v1.Status>", "repeated", "states", None),
        ("string", "singular", "card", "payment"),
        ("int64", "singular", "total", None),  # proto3 optional: a synthetic oneof is no oneof
    ]


def test_the_fingerprint_ignores_comments_and_unrelated_types(compile_text: CompileText) -> None:
    base = schema_fingerprint(compile_text(SHOP), "shop.v1.Order")
    assert len(base) == 64
    commented = SHOP.replace("// An order.", "// An order, said again.").replace("= 1;\n", "= 1;  // first\n")
    assert schema_fingerprint(compile_text(commented), ".shop.v1.Order") == base
    unrelated = SHOP + "\nmessage Other {\n  string x = 1;\n}\n"
    assert schema_fingerprint(compile_text(unrelated), "shop.v1.Order") == base


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(("int64 total_cents", "int32 total_cents"), id="own-field"),
        pytest.param(("  string sku = 1;\n", "  string sku = 1;\n  int32 units = 2;\n"), id="used-message"),
        pytest.param(("  STATUS_PAID = 1;\n", "  STATUS_PAID = 1;\n  STATUS_SHIPPED = 2;\n"), id="map-value-enum"),
    ],
)
def test_the_fingerprint_changes_with_the_schema_and_its_dependencies(
    compile_text: CompileText, change: tuple[str, str]
) -> None:
    before = schema_fingerprint(compile_text(SHOP), "shop.v1.Order")
    assert change[0] in SHOP
    assert schema_fingerprint(compile_text(SHOP.replace(*change)), "shop.v1.Order") != before


def test_the_fingerprint_of_an_unknown_message_raises(compile_text: CompileText) -> None:
    compiled = compile_text(SHOP)
    with pytest.raises(KeyError, match=r"shop\.v1\.Nope"):
        schema_fingerprint(compiled, "shop.v1.Nope")
    with pytest.raises(KeyError):
        schema_fingerprint(compiled, "shop.v1.Status")  # an enum, not a message
