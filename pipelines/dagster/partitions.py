"""Dagster partitions, backfill policy and automation of silver and gold assets, from the domain spec."""

# No `from __future__ import annotations`: Dagster reads annotations at definition time.

import warnings
from datetime import date, timedelta

import dagster as dg

from pipelines.core.spec import ProductSpec
from pipelines.services.build import PartitionWindow

# Single-run backfills are what partitioned products need; Dagster marks the parameter beta.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)


def product_partitions(spec: ProductSpec) -> dg.TimeWindowPartitionsDefinition | None:
    """Daily or weekly (Monday) partitions of a product, up to and including the current period."""
    part = spec.partition
    if part is None:
        return None
    if part.period == "week":
        monday = part.start - timedelta(days=part.start.weekday())
        return dg.WeeklyPartitionsDefinition(start_date=monday.isoformat(), day_offset=1, end_offset=1)
    return dg.DailyPartitionsDefinition(start_date=part.start.isoformat(), end_offset=1)


SINGLE_RUN = dg.BackfillPolicy.single_run()
"""Every asset builds any range of partitions in one run: a partitioned product reads its inputs once,
and a domain's unpartitioned assets share a run with its partitioned products
(`dagster asset materialize --select 'group:orders' --partition-range ...`)."""

AUTOMATION_TAG = "dagster/from_automation_condition"
"""Dagster's tag on runs that declarative automation launched."""
UPDATE_TAG = "meshlake/update"
"""Run tag (value `true`) of a run that brings assets up to date, as automation does (`meshlake materialize`)."""


def silver_automation() -> dg.AutomationCondition:
    """Silver follows bronze: runs when an event table it reads got new data."""
    return dg.AutomationCondition.eager()


def gold_automation(spec: ProductSpec) -> dg.AutomationCondition:
    """Gold follows its inputs once their blocking checks pass.

    A partitioned product is refreshed in every partition (late events change old days), not only
    the latest one as `eager()` would: its inputs are unpartitioned entity states.
    """
    passed = dg.AutomationCondition.all_deps_blocking_checks_passed()
    if spec.partition is None:
        return dg.AutomationCondition.eager() & passed
    requested = dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()
    return (
        requested.since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & passed
    ).with_label("eager in every partition")


def partition_window(context: dg.AssetExecutionContext, spec: ProductSpec) -> PartitionWindow | None:
    """The partitions a run recomputes completely from its inputs, or None: the run updates the product.

    A run that names partitions (a backfill, `--partition`, `--partition-range`) recomputes exactly
    those. An unpartitioned product, and a run of automation or tagged `UPDATE_TAG`, update the
    product: only the partitions its inputs' changes since the last run touch are recomputed,
    whatever partitions the run names.
    """
    part = spec.partition
    tags = context.run.tags
    named = context.has_partition_key or context.has_partition_key_range
    if part is None or not named or "true" in (tags.get(AUTOMATION_TAG), tags.get(UPDATE_TAG)):
        return None
    window = context.partition_time_window
    definition = context.assets_def.partitions_def
    assert isinstance(definition, dg.TimeWindowPartitionsDefinition)
    keys = definition.get_partition_keys()
    keyrange = context.partition_key_range
    complete = bool(keys) and keyrange.start == keys[0] and keyrange.end == keys[-1]
    return PartitionWindow(_date(window.start), _date(window.end), part.period, complete)


def _date(value: object) -> date:
    assert hasattr(value, "date")
    result = value.date()
    assert isinstance(result, date)
    return result


def update_tags(definition: dg.PartitionsDefinition | None) -> dict[str, str]:
    """Run tags that make one run bring an asset up to date: every partition, only the touched ones
    recomputed (empty for an unpartitioned asset)."""
    if definition is None:
        return {}
    keys = definition.get_partition_keys()
    if not keys:
        return {}
    return {
        "dagster/asset_partition_range_start": keys[0],
        "dagster/asset_partition_range_end": keys[-1],
        UPDATE_TAG: "true",
    }


class SilverRunConfig(dg.Config):
    """How a silver run reads bronze: incrementally (default), or a full rebuild (a backfill)."""

    full_rebuild: bool = False


class GoldRunConfig(dg.Config):
    """How a gold run that updates a product reads its inputs: only the partitions their changes touch
    when the product's spec says how (default), or all of them (a full rebuild)."""

    full_rebuild: bool = False
