"""The one place that reaches into pyspark's private API, each use with why and what would replace it."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
