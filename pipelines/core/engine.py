"""Engines that compute gold products, and the mark of a transform written once for both.

A *portable* transform is written with narwhals: the embedded engine calls it with Polars frames, the
Spark engine with PySpark Connect frames, and it returns a frame of the same kind. A plain Polars
transform (one not marked) keeps running on the embedded engine only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import narwhals as nw

PORTABLE_ATTRIBUTE = "__meshlake_portable__"


class EngineName(StrEnum):
    """Where a product is computed: in this process (DuckDB/Polars) or on a Spark Connect server."""

    EMBEDDED = "embedded"
    SPARK = "spark"


def portable(function: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a transform written with narwhals frames: called with native frames (Polars, PySpark), it
    hands them to `function` as narwhals frames and returns its result as a native frame again."""

    @functools.wraps(function)
    def on_native(*args: Any, **kwargs: Any) -> Any:
        result = function(
            *(nw.from_native(a) for a in args), **{name: nw.from_native(value) for name, value in kwargs.items()}
        )
        return nw.to_native(result)

    setattr(on_native, PORTABLE_ATTRIBUTE, True)
    return on_native


def is_portable(function: Callable[..., Any]) -> bool:
    """Whether `function` was marked with `portable`."""
    return bool(getattr(function, PORTABLE_ATTRIBUTE, False))
