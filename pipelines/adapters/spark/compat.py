"""The one place that reaches into pyspark's private API, each use with why and what would replace it."""

from __future__ import annotations

import importlib.machinery
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def plan_metrics(frame: DataFrame) -> dict[str, float]:
    """The metrics the server sent with `frame`'s last execution, summed by name over the plan's nodes.

    `DataFrame.executionInfo.metrics` (public) is a `CollectedMetrics` whose nodes are reachable only as
    `_metrics` (it renders them as text, `toText()`); a public list of `PlanMetrics` would replace this.
    """
    info = frame.executionInfo
    collected = info.metrics if info is not None else None
    totals: dict[str, float] = {}
    for plan in collected._metrics if collected is not None else []:
        for metric in plan.metrics:
            totals[metric.name] = totals.get(metric.name, 0.0) + metric.value
    return dict(sorted(totals.items()))


def ship_by_value(function: Callable[..., Any]) -> None:
    """Let pyspark send `function` (and what it calls from its package) to the server's workers by value when its
    package is not importable there: a domain's modules are loaded by path (`pipelines.project`) into a package
    of their own, which a worker cannot import by name.

    `pyspark.cloudpickle` is pyspark's vendored copy of cloudpickle, whose `register_pickle_by_value` is public
    cloudpickle API; pyspark offers no way of its own to ship a module with a UDF.
    """
    from pyspark import cloudpickle

    for module in _modules_of(function):
        root = module.partition(".")[0]
        if root in sys.modules and importlib.machinery.PathFinder.find_spec(root) is None:
            cloudpickle.register_pickle_by_value(sys.modules[root])  # type: ignore[no-untyped-call]


def _modules_of(function: Callable[..., Any]) -> set[str]:
    """The modules of `function` and of the callables it holds (a dataclass instance's fields)."""
    modules: set[str] = set()
    seen: set[int] = set()
    todo: list[Any] = [function]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(module := getattr(item, "__module__", None), str):
            modules.add(module)
        if not isinstance(item, type):
            todo += [value for value in getattr(item, "__dict__", {}).values() if callable(value)]
    return modules
