"""Recursive messages map to a bounded depth; deeper levels are kept as bytes, so every tree reads back whole."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipelines.core.fast_decode as fast_module
from pipelines.core.fast_decode import decode_payloads_fast
from pipelines.core.proto_schema import Recursion, arrow_schema
from tests.unit.test_fast_decode import KITCHEN, assert_same

Forest = KITCHEN.message_class("meshlake.kitchen.v1.Forest")
Node = KITCHEN.message_class("meshlake.kitchen.v1.Node")


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> Any:
    node = Node(name=draw(st.text(max_size=3)))
    for _ in range(draw(st.integers(0, 2 if depth < 6 else 0))):
        node.children.append(draw(trees(depth + 1)))
    return node


def rebuild(row: dict[str, Any] | bytes) -> Message:
    """The Node a decoded row holds: its columns, and below the cut its serialized bytes."""
    if isinstance(row, bytes):
        return Node.FromString(row)
    return Node(name=row["name"], children=[rebuild(child) for child in row["children"]])


@pytest.fixture(autouse=True)
def fast_path_for_small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_module, "FAST_MIN_ROWS", 0)


@pytest.mark.parametrize("depth", [1, 3, 8])
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(roots=st.lists(trees(), min_size=1, max_size=6))
def test_trees_of_any_depth_read_back_whole_and_both_decoders_agree(depth: int, roots: list[Any]) -> None:
    forests = [Forest(root=root) for root in roots]
    schema = arrow_schema(Forest.DESCRIPTOR, recursion=Recursion(depth))
    payloads = [f.SerializeToString() for f in forests]

    assert_same(Forest, payloads, schema)
    rows = decode_payloads_fast(Forest, payloads, schema).table.to_pylist()
    assert [Forest(root=rebuild(row["root"])) for row in rows] == forests
