"""How a transform declares its column lineage (`derives`), and what is read back from it."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.core.lineage import declared_sources, derives, unknown_inputs


@derives(day="orders.placed_at", revenue=["orders.total", "returns.refund"])
def daily(orders: pl.DataFrame, returns: pl.DataFrame) -> pl.DataFrame:
    return orders


def test_each_output_column_names_its_input_columns() -> None:
    assert declared_sources(daily) == {
        "day": [("orders", "placed_at")],
        "revenue": [("orders", "total"), ("returns", "refund")],
    }
    assert daily(pl.DataFrame({"a": [1]}), pl.DataFrame()).height == 1  # the transform itself is unchanged
    assert unknown_inputs(daily) == []


def test_an_undecorated_transform_declares_nothing() -> None:
    assert declared_sources(lambda orders: orders) == {}


def test_an_input_that_is_no_parameter_is_named() -> None:
    @derives(total="sales.amount")
    def totals(items: pl.DataFrame) -> pl.DataFrame:
        return items

    assert unknown_inputs(totals) == ["sales"]


@pytest.mark.parametrize("source", ["amount", ".amount", "orders."])
def test_a_source_must_be_input_dot_column(source: str) -> None:
    with pytest.raises(ValueError, match=r"is not <input>\.<column>"):
        derives(total=source)
