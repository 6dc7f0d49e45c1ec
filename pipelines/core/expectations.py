"""Data expectations of a product's contract and their pure evaluation on Polars frames.

A product spec lists expectations (`not_null`, `unique`, `accepted_values`, `range`, `row_count`,
`references`); `evaluate` checks one against a frame and says how many rows break it, with a few
examples. Severity `error` expectations are blocking: downstream products do not build on data that
breaks them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

_Column = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$")]
_Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
Severity = Literal["error", "warn"]
SAMPLE_ROWS = 5


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Severity = "error"
    name: _Name | None = None
    description: str = ""

    def check_name(self) -> str:
        """The check's name: explicit, or derived from the kind and the columns."""
        return self.name or self._default_name()

    def _default_name(self) -> str:
        raise NotImplementedError


class NotNull(_Base):
    """Every listed column holds a value in every row."""

    type: Literal["not_null"]
    columns: list[_Column] = Field(min_length=1)

    def _default_name(self) -> str:
        return "not_null_" + "_".join(self.columns)


class Unique(_Base):
    """No two rows share the values of the listed columns."""

    type: Literal["unique"]
    columns: list[_Column] = Field(min_length=1)

    def _default_name(self) -> str:
        return "unique_" + "_".join(self.columns)


class AcceptedValues(_Base):
    """The column holds only the listed values (nulls are allowed; add `not_null` to refuse them)."""

    type: Literal["accepted_values"]
    column: _Column
    values: list[str | int] = Field(min_length=1)

    def _default_name(self) -> str:
        return f"accepted_values_{self.column}"


class Range(_Base):
    """Values of the column lie within `[min, max]` (either bound may be left out)."""

    type: Literal["range"]
    column: _Column
    min: Decimal | None = None
    max: Decimal | None = None

    @model_validator(mode="after")
    def _a_bound(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("range needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"range: min {self.min} is above max {self.max}")
        return self

    def _default_name(self) -> str:
        return f"range_{self.column}"


class RowCount(_Base):
    """The table holds between `min` and `max` rows."""

    type: Literal["row_count"]
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    def _default_name(self) -> str:
        return "row_count"


class References(_Base):
    """Referential integrity: every (non-null) value of `columns` exists in `to` of another product."""

    type: Literal["references"]
    columns: list[_Column] = Field(min_length=1)
    product: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")]
    to: list[_Column] = []

    @model_validator(mode="after")
    def _same_width(self) -> References:
        if self.to and len(self.to) != len(self.columns):
            raise ValueError("references: `to` must name as many columns as `columns`")
        return self

    def target_columns(self) -> list[str]:
        return list(self.to or self.columns)

    def _default_name(self) -> str:
        return f"references_{self.product.replace('.', '_')}"


Expectation = Annotated[NotNull | Unique | AcceptedValues | Range | RowCount | References, Field(discriminator="type")]


@dataclass(frozen=True)
class Outcome:
    """The result of one expectation on one frame."""

    name: str
    passed: bool
    blocking: bool
    failing_rows: int
    description: str
    examples: list[dict[str, Any]] = field(default_factory=list)


def _outcome(expectation: _Base, failing: pl.DataFrame, what: str) -> Outcome:
    return Outcome(
        name=expectation.check_name(),
        passed=failing.height == 0,
        blocking=expectation.severity == "error",
        failing_rows=failing.height,
        description=expectation.description or what,
        examples=failing.head(SAMPLE_ROWS).to_dicts(),
    )


def _missing(frame: pl.DataFrame, columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c not in frame.columns]


def _not_null(e: NotNull, frame: pl.DataFrame, _: Mapping[str, pl.DataFrame]) -> Outcome:
    failing = frame.filter(pl.any_horizontal(pl.col(c).is_null() for c in e.columns))
    return _outcome(e, failing, f"{', '.join(e.columns)} never null")


def _unique(e: Unique, frame: pl.DataFrame, _: Mapping[str, pl.DataFrame]) -> Outcome:
    failing = frame.filter(pl.struct(e.columns).is_duplicated()).sort(e.columns)
    return _outcome(e, failing, f"({', '.join(e.columns)}) unique")


def _accepted(e: AcceptedValues, frame: pl.DataFrame, _: Mapping[str, pl.DataFrame]) -> Outcome:
    column = pl.col(e.column)
    values = [str(v) for v in e.values] if frame.schema[e.column] == pl.String else list(e.values)
    failing = frame.filter(column.is_not_null() & ~column.is_in(values))
    return _outcome(e, failing, f"{e.column} in {e.values}")


def _number(value: Decimal | int) -> str:
    """A threshold as people write it: 0.05, 100 (not 1E+2, not Decimal('0.05'))."""
    return str(value) if isinstance(value, int) else format(value.normalize(), "f")


def bounds(what: str, low: Decimal | int | None, high: Decimal | int | None) -> str:
    """`0 <= what <= 1`, `what >= 0` or `what <= 1`: only the bounds there are."""
    if low is not None and high is not None:
        return f"{_number(low)} <= {what} <= {_number(high)}"
    if low is not None:
        return f"{what} >= {_number(low)}"
    if high is not None:
        return f"{what} <= {_number(high)}"
    return f"{what}: any value"


def _range(e: Range, frame: pl.DataFrame, _: Mapping[str, pl.DataFrame]) -> Outcome:
    column = pl.col(e.column)
    dtype = frame.schema[e.column]

    def bound(value: Decimal) -> Any:
        return value if dtype.is_decimal() else float(value)

    outside = pl.lit(False)
    if e.min is not None:
        outside = outside | (column < bound(e.min))
    if e.max is not None:
        outside = outside | (column > bound(e.max))
    failing = frame.filter(column.is_not_null() & outside)
    return _outcome(e, failing, bounds(e.column, e.min, e.max))


def _row_count(e: RowCount, frame: pl.DataFrame, _: Mapping[str, pl.DataFrame]) -> Outcome:
    rows = frame.height
    ok = (e.min is None or rows >= e.min) and (e.max is None or rows <= e.max)
    outcome = _outcome(
        e, pl.DataFrame({"rows": [rows]}) if not ok else pl.DataFrame(), bounds("row count", e.min, e.max)
    )
    return Outcome(outcome.name, ok, outcome.blocking, 0 if ok else rows, outcome.description, outcome.examples)


def _references(e: References, frame: pl.DataFrame, others: Mapping[str, pl.DataFrame]) -> Outcome:
    if e.product not in others:
        raise ValueError(f"{e.check_name()}: the referenced product {e.product} was not provided")
    target = others[e.product]
    if missing := _missing(target, e.target_columns()):
        raise ValueError(f"{e.check_name()}: {e.product} has no column(s) {', '.join(missing)}")
    keys = target.select([pl.col(t).alias(c) for c, t in zip(e.columns, e.target_columns(), strict=True)]).unique()
    present = frame.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in e.columns))
    failing = present.join(keys, on=e.columns, how="anti", nulls_equal=False)
    return _outcome(e, failing, f"({', '.join(e.columns)}) exist in {e.product}")


_EVALUATORS: dict[str, Callable[[Any, pl.DataFrame, Mapping[str, pl.DataFrame]], Outcome]] = {
    "not_null": _not_null,
    "unique": _unique,
    "accepted_values": _accepted,
    "range": _range,
    "row_count": _row_count,
    "references": _references,
}


def evaluate(
    expectation: Expectation, frame: pl.DataFrame, others: Mapping[str, pl.DataFrame] | None = None
) -> Outcome:
    """Check one expectation on `frame`.

    Args:
        expectation: what to check.
        frame: the product's rows.
        others: other products by `<domain>.<product>`, for `references`.

    Raises:
        ValueError: the expectation names a column the frame (or the referenced product) lacks.
    """
    columns: list[str] = []
    for attr in ("columns", "column"):
        value = getattr(expectation, attr, None)
        columns += value if isinstance(value, list) else [value] if value else []
    if missing := _missing(frame, columns):
        raise ValueError(f"{expectation.check_name()}: the product has no column(s) {', '.join(missing)}")
    return _EVALUATORS[expectation.type](expectation, frame, others or {})


def key_expectations(key: Sequence[str]) -> list[Expectation]:
    """The expectations a product key implies: its columns are not null and unique together."""
    if not key:
        return []
    return [
        NotNull(type="not_null", columns=list(key), name="key_not_null"),
        Unique(type="unique", columns=list(key), name="key_unique"),
    ]


def freshness(last_update: datetime | None, now: datetime, limit: timedelta) -> tuple[bool, float | None]:
    """Whether a table updated at `last_update` is fresh at `now`; also its age in hours (None: never)."""
    if last_update is None:
        return False, None
    age = now - last_update
    return age <= limit, round(age.total_seconds() / 3600, 3)
