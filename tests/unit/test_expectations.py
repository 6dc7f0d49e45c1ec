"""Expectations of a product contract fail on data that breaks them and pass otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from pydantic import TypeAdapter, ValidationError

from pipelines.core.expectations import Expectation, evaluate, freshness, key_expectations

parse = TypeAdapter(Expectation).validate_python

GOOD = pl.DataFrame(
    {
        "day": ["2026-10-01", "2026-10-01", "2026-10-02"],
        "currency": ["EUR", "GBP", "EUR"],
        "revenue": [Decimal("1.00"), Decimal("0.00"), Decimal("2.50")],
        "order_id": ["O1", "O2", "O3"],
    },
    schema_overrides={"revenue": pl.Decimal(18, 2)},
)
ORDERS = pl.DataFrame({"order_id": ["O1", "O2", "O3", "O4"]})

BROKEN_CURRENCY = GOOD.with_columns(currency=pl.lit("XXX"))
CASES: list[tuple[dict[str, Any], pl.DataFrame]] = [
    ({"type": "not_null", "columns": ["day", "currency"]}, GOOD.with_columns(currency=pl.lit(None, pl.String))),
    ({"type": "unique", "columns": ["day", "currency"]}, pl.concat([GOOD, GOOD.head(1)])),
    ({"type": "accepted_values", "column": "currency", "values": ["EUR", "GBP"]}, BROKEN_CURRENCY),
    ({"type": "range", "column": "revenue", "min": 0, "max": 100}, GOOD.with_columns(revenue=pl.lit(Decimal("-1")))),
    ({"type": "row_count", "min": 1, "max": 3}, pl.concat([GOOD, GOOD])),
    ({"type": "references", "columns": ["order_id"], "product": "o.facts"}, GOOD.with_columns(order_id=pl.lit("O9"))),
]


@pytest.mark.parametrize(("spec", "broken"), CASES, ids=[c[0]["type"] for c in CASES])
def test_each_expectation_passes_on_good_data_and_fails_on_broken_data(
    spec: dict[str, Any], broken: pl.DataFrame
) -> None:
    expectation = parse(spec)
    others = {"o.facts": ORDERS}
    assert evaluate(expectation, GOOD, others).passed
    outcome = evaluate(expectation, broken, others)
    assert not outcome.passed
    assert outcome.failing_rows > 0
    assert outcome.blocking


def test_failures_come_with_examples_of_offending_rows() -> None:
    outcome = evaluate(parse({"type": "range", "column": "revenue", "min": 0}), GOOD.with_columns(
        revenue=pl.Series([Decimal("-5.00"), Decimal("1.00"), Decimal("-1.00")], dtype=pl.Decimal(18, 2))
    ))  # fmt: skip
    assert outcome.failing_rows == 2
    assert [r["order_id"] for r in outcome.examples] == ["O1", "O3"]


def test_warn_severity_is_not_blocking_and_names_are_stable() -> None:
    expectation = parse({"type": "accepted_values", "column": "currency", "values": ["EUR"], "severity": "warn"})
    assert not evaluate(expectation, GOOD).blocking
    assert expectation.check_name() == "accepted_values_currency"
    assert [e.check_name() for e in key_expectations(["day", "currency"])] == ["key_not_null", "key_unique"]


def test_an_unknown_column_is_an_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="no column"):
        evaluate(parse({"type": "not_null", "columns": ["nope"]}), GOOD)


@pytest.mark.parametrize(
    "spec",
    [{"type": "range", "column": "x"}, {"type": "range", "column": "x", "min": 2, "max": 1}, {"type": "shape"}],
)
def test_malformed_expectations_are_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse(spec)


def test_freshness_compares_the_last_update_with_the_sla() -> None:
    now = datetime(2026, 10, 2, 12, tzinfo=UTC)
    assert freshness(now - timedelta(hours=1), now, timedelta(hours=2)) == (True, 1.0)
    assert freshness(now - timedelta(hours=3), now, timedelta(hours=2))[0] is False
    assert freshness(None, now, timedelta(hours=2)) == (False, None)


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ({"type": "range", "column": "revenue", "min": 0}, "revenue >= 0"),
        ({"type": "range", "column": "revenue", "max": "1E+2"}, "revenue <= 100"),
        ({"type": "range", "column": "revenue", "min": "0.050", "max": 1}, "0.05 <= revenue <= 1"),
        ({"type": "row_count", "min": 1}, "row count >= 1"),
        ({"type": "row_count", "min": 1, "max": 10}, "1 <= row count <= 10"),
    ],
)
def test_thresholds_read_as_numbers_and_only_the_bounds_given(spec: dict[str, Any], text: str) -> None:
    outcome = evaluate(parse(spec), GOOD)
    assert outcome.description == text
