"""Materialise assets with Dagster's real executor, one asset at a time, with a progress bar."""

from __future__ import annotations

import os
import warnings

import dagster as dg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipelines.cli.dev import prepare_dagster_home
from pipelines.settings import Settings

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class MaterializeError(Exception):
    """An asset failed to materialise; names the asset and the step's error."""


def _failure_message(outcome: dg.ExecuteInProcessResult) -> str:
    """The asset's own error (the innermost cause), without Dagster's wrapping."""
    failure = next((e for e in outcome.all_events if e.is_step_failure), None)
    error = failure.step_failure_data.error if failure and failure.step_failure_data else None
    if error is None:
        return f"run {outcome.run_id} failed; see the Dagster run"
    while error.cause is not None:
        error = error.cause
    message = error.message.strip()
    head, sep, rest = message.partition(": ")
    return rest if sep and error.cls_name and head.endswith(error.cls_name) else message


def dagster_instance(settings: Settings) -> dg.DagsterInstance:
    """The Dagster instance under `$MESHLAKE_HOME/dagster`, with the profile `meshlake dev` would use
    (dagster.postgres.yaml when `MESHLAKE_DAGSTER_POSTGRES_URL` is set)."""
    home = prepare_dagster_home(settings.home, os.environ)
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def materialize_all(select: str, console: Console) -> dict[str, dict[str, object]]:
    """Materialise the selected assets in dependency order, each in its own run; returns each asset's metadata.

    Like automation, the runs update the assets: a partitioned product recomputes the partitions its
    inputs' changes touch (see `update_tags`).

    Raises:
        MaterializeError: an asset failed; earlier assets stay materialised.
    """
    from pipelines.dagster.partitions import update_tags
    from pipelines.definitions import defs

    settings = Settings.from_env()
    instance = dagster_instance(settings)
    graph = defs.resolve_asset_graph()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        selected = dg.AssetSelection.from_string(select).resolve(graph)
    order = [key for key in graph.toposorted_asset_keys if key in selected]
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    resources = dict(defs.resources or {})
    results: dict[str, dict[str, object]] = {}
    progress = Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("materialise", total=len(order))
        for key in order:
            name = key.to_user_string()
            progress.update(task, description=f"materialise {name}")
            outcome = dg.materialize(
                assets,
                selection=[key],
                instance=instance,
                resources=resources,
                raise_on_error=False,
                run_config=QUIET,
                tags=update_tags(defs.resolve_assets_def(key).partitions_def),
            )
            if not outcome.success:
                raise MaterializeError(f"{name}: {_failure_message(outcome)}")
            for event in outcome.get_asset_materialization_events():
                mat = event.materialization
                results[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
            progress.advance(task)
    return results
