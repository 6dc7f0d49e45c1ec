"""Materialise assets with Dagster's real executor in as few runs as can be, with progress and a closing table.

A run costs seconds of its own (the run record, its events, the resources), so the unpartitioned assets go
in one run together; a partitioned asset needs a run of its own (its partitions are the run's), after its
inputs and before what reads it.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dagster as dg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.cli.dev import initialising, prepare_dagster_home
from pipelines.settings import Settings

_log = logging.getLogger(__name__)
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class MaterializeError(Exception):
    """An asset failed to materialise; names the asset and the step's error."""


@dataclass(frozen=True)
class AssetRun:
    """One asset's materialisation as the closing table shows it."""

    asset: str
    metadata: dict[str, object]
    rows: int | None
    added: int | None
    quarantined: int | None
    seconds: float


def _failure_message(outcome: dg.ExecuteInProcessResult) -> str:
    """The asset's own error without Dagster's wrapping (not its causes: an error that already says what failed
    in one line, such as the engine's, keeps the library error it came from as its cause)."""
    failure = next((e for e in outcome.all_events if e.is_step_failure), None)
    error = failure.step_failure_data.error if failure and failure.step_failure_data else None
    if error is None:
        return f"run {outcome.run_id} failed; see the Dagster run"
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    message = error.message.strip()
    head, sep, rest = message.partition(": ")
    return rest if sep and error.cls_name and head.endswith(error.cls_name) else message


def dagster_instance(settings: Settings) -> dg.DagsterInstance:
    """The Dagster instance under `<home>/dagster`, with the profile `meshlake dev` would use (the project's
    dagster.postgres.yaml when `dagster_postgres_url` is set)."""
    with initialising(settings.home_dir):  # first runs racing on a new home would each create the storage
        home = prepare_dagster_home(settings.home_dir, settings.project_dir, bool(settings.dagster_postgres_url))
        # The instance's YAML names its values by environment variable (DAGSTER_HOME, the PostgreSQL URL).
        os.environ.update(settings.dagster_environment(home))
        return dg.DagsterInstance.get()  # its storages are created (and migrated) here, under the lock


def resolve_selection(defs: dg.Definitions, select: str) -> list[dg.AssetKey]:
    """The selected assets in dependency order.

    Raises:
        typer.BadParameter: the selection is invalid or matches nothing (exit 2); the message lists the
            groups and the asset keys nearest to what was typed.
    """
    graph = defs.resolve_asset_graph()
    problem = "matches no asset"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            selected = dg.AssetSelection.from_string(select).resolve(graph)
    except dg.DagsterInvalidSubsetError:  # a key that no asset has
        selected = set()
    except dg.DagsterError:  # the selection's grammar (its error type is not public)
        selected, problem = set(), "is not a valid selection"
    order = [key for key in graph.toposorted_asset_keys if key in selected and graph.get(key).is_materializable]
    if order:
        return order
    keys = sorted(k.to_user_string() for k in graph.materializable_asset_keys)
    groups = sorted({graph.get(k).group_name for k in graph.materializable_asset_keys})
    typed = select.partition(":")[2] or select
    near = difflib.get_close_matches(typed, keys, n=3, cutoff=0.6) or keys[:3]
    raise typer.BadParameter(
        f"{select!r} {problem}; groups: {', '.join(groups)}; keys like {', '.join(near)} "
        f"({len(keys)} assets; select e.g. group:{groups[0]} or key:{keys[0]})",
        param_hint=["--select"],
    )


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rows_before(instance: dg.DagsterInstance, key: dg.AssetKey) -> int:
    event = instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event else None
    value = materialization.metadata.get("dagster/row_count") if materialization else None
    return _count(value.value if value is not None else None) or 0


def _step_seconds(outcome: dg.ExecuteInProcessResult) -> dict[str, float]:
    """Each step's own duration, as Dagster recorded it, by step key."""
    return {
        event.step_key: float(event.step_success_data.duration_ms) / 1000
        for event in outcome.all_events
        if event.is_step_success and event.step_key
    }


def batches(defs: dg.Definitions, order: list[dg.AssetKey]) -> Iterator[list[dg.AssetKey]]:
    """The selected assets as runs, in dependency order: every unpartitioned asset whose inputs are ready
    in one run, each partitioned asset in a run of its own once its inputs are done."""
    graph = defs.resolve_asset_graph()
    selected = set(order)
    pending = list(order)
    while pending:
        batch: list[dg.AssetKey] = []
        waiting: set[dg.AssetKey] = set()
        for key in pending:
            partitioned = defs.resolve_assets_def(key).partitions_def is not None
            if partitioned or graph.get(key).parent_keys & selected & waiting:
                waiting.add(key)
            else:
                batch.append(key)
        batch = batch or pending[:1]  # a partitioned asset: everything before it in `order` is done
        pending = [key for key in pending if key not in batch]
        yield batch


def _run_with_progress(
    run: Callable[[], dg.ExecuteInProcessResult],
    instance: dg.DagsterInstance,
    keys: list[dg.AssetKey],
    on_done: Callable[[dg.AssetKey], None],
) -> dg.ExecuteInProcessResult:
    """Run, calling `on_done` as each asset's materialisation reaches the instance.

    The run stays in this (the main) thread, where Ctrl-C reaches it and Dagster ends it properly; a
    watcher thread looks at the instance meanwhile.
    """

    def latest(key: dg.AssetKey) -> float:
        event = instance.get_latest_materialization_event(key)
        return event.timestamp if event else 0.0

    # Imported here, before the watcher starts: SQLAlchemy's ORM, imported lazily by a run's first catalog
    # write in this thread, was seen half-initialised by the watcher's query ('partially initialized module').
    importlib.import_module("sqlalchemy.orm")
    before = {key: latest(key) for key in keys}
    left = list(keys)
    stop = threading.Event()

    def report() -> None:
        for key in [k for k in left if latest(k) > before[k]]:
            left.remove(key)
            on_done(key)

    def watch() -> None:
        try:
            while left and not stop.wait(0.5):
                report()
        except Exception:  # the bar stops moving; the run itself goes on, and its result is what counts
            _log.debug("progress watcher stopped", exc_info=True)

    watcher = threading.Thread(target=watch, name="meshlake-progress", daemon=True)
    watcher.start()
    try:
        return run()
    finally:
        stop.set()
        watcher.join(30)  # it looks every 0.5 s; one look stuck in the instance's storage is not waited for
        if not watcher.is_alive():
            report()


def materialize_all(select: str, console: Console) -> list[AssetRun]:
    """Materialise the selected assets in dependency order, in as few runs as can be, then print a table.

    Like automation, the runs update the assets: a partitioned product recomputes the partitions its
    inputs' changes touch (see `update_tags`).

    Raises:
        typer.BadParameter: the selection matches no asset.
        HomeFormatError: the home holds tables of another `MESHLAKE_FORMAT`.
        MaterializeError: an asset failed; assets of earlier runs stay materialised.
    """
    from pipelines.adapters.home_format import check_home_format
    from pipelines.cli import context
    from pipelines.dagster.code_location import build_definitions
    from pipelines.dagster.partitions import update_tags
    from pipelines.dagster.run_owner import owner_tags, wait_for_pools

    settings = context.settings()
    defs = build_definitions(settings)
    order = resolve_selection(defs, select)
    if settings.warehouse is None:  # tables under the home: refused before any run, not in the first asset
        check_home_format(settings.home_dir, settings.format)
    instance = dagster_instance(settings)
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    resources = dict(defs.resources or {})
    runs: list[AssetRun] = []
    progress = Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("materialise", total=len(order))
        for batch in batches(defs, order):
            names = [key.to_user_string() for key in batch]
            progress.update(task, description=f"materialise {names[0]}" + (" …" if len(batch) > 1 else ""))
            rows_before = {key: _rows_before(instance, key) for key in batch}
            pools = {p for key in batch if (p := defs.resolve_assets_def(key).op.pool)}
            wait_for_pools(instance, pools, _waiting(console, ", ".join(names)))

            def run(batch: list[dg.AssetKey] = batch) -> dg.ExecuteInProcessResult:
                return dg.materialize(
                    assets,
                    selection=batch,
                    instance=instance,
                    resources=resources,
                    raise_on_error=False,
                    run_config=QUIET,
                    tags=update_tags(defs.resolve_assets_def(batch[0]).partitions_def) | owner_tags(),
                )

            def done(key: dg.AssetKey) -> None:
                progress.update(task, advance=1, description=f"materialise {key.to_user_string()}")

            outcome = _run_with_progress(run, instance, batch, done)
            if not outcome.success:
                failed = next((e.step_key for e in outcome.all_events if e.is_step_failure), None)
                name = next((n for k, n in zip(batch, names, strict=True) if k.to_python_identifier() == failed), None)
                raise MaterializeError(f"{name or ', '.join(names)}: {_failure_message(outcome)}")
            seconds = _step_seconds(outcome)
            metadata: dict[dg.AssetKey, dict[str, object]] = {}
            for event in outcome.get_asset_materialization_events():
                mat = event.materialization
                metadata[mat.asset_key] = {k: v.value for k, v in mat.metadata.items()}
            for key, name in zip(batch, names, strict=True):
                meta = metadata.get(key, {})
                rows = _count(meta.get("dagster/row_count"))
                written = _count(meta.get("rows_written"))
                added = written if written is not None else (rows - rows_before[key] if rows is not None else None)
                took = seconds.get(key.to_python_identifier(), 0.0)
                runs.append(AssetRun(name, meta, rows, added, _count(meta.get("quarantined")), took))
    console.print(summary_table(runs))
    for each in runs:  # files quarantined whole: the table counts them, these lines name them
        damaged = each.metadata.get("damaged_files")
        for source, reason in damaged.items() if isinstance(damaged, dict) else ():
            console.print(f"{each.asset}: damaged file {source}: {reason}", highlight=False, soft_wrap=True)
    return runs


def _waiting(console: Console, name: str) -> Callable[[dict[str, set[str]]], None]:
    """Says once that `name` waits for its table's pool, and for which runs."""
    said = False

    def on_wait(busy: dict[str, set[str]]) -> None:
        nonlocal said
        if not said:
            holders = "; ".join(f"{pool} held by run {', '.join(sorted(runs))}" for pool, runs in busy.items())
            console.print(f"{name}: waiting for {holders}")
            said = True

    return on_wait


def summary_table(runs: list[AssetRun]) -> Table:
    """One row per asset: table rows, rows added by this run, events quarantined, the step's duration."""
    table = Table("asset", "format", "rows", "added", "quarantined", "duration", title="materialised")
    for column in table.columns[2:]:
        column.justify = "right"

    def number(value: int | None) -> str:
        return "" if value is None else f"{value:,}"

    for run in runs:
        fmt = str(run.metadata.get("table_format", ""))
        table.add_row(
            run.asset,
            fmt,
            number(run.rows),
            number(run.added),
            number(run.quarantined),
            f"{run.seconds:.1f} s",
        )
    return table
