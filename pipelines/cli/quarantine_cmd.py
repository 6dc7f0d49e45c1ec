"""`meshlake quarantine`: what was rejected and why (`list`), and re-ingestion after a fix (`replay`)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from pipelines.bootstrap import Runtime

app = typer.Typer(
    help="List quarantined events and replay them after a schema or data fix.",
    no_args_is_help=True,
    add_completion=False,
)

DomainOption = Annotated[str | None, typer.Option("--domain", help="Only this domain.")]
ReasonOption = Annotated[str | None, typer.Option("--reason", metavar="PREFIX", help="Only reasons starting so.")]


def _runtime() -> Runtime:
    """The runtime of this run's settings; tests replace it."""
    from pipelines.cli import context

    return context.runtime()


def _domain(runtime: Runtime, name: str) -> str:
    """`--domain`, checked: a usage error (exit 2) names the domains there are."""
    if name not in runtime.domains:
        known = ", ".join(sorted(runtime.domains))
        raise typer.BadParameter(f"no domain {name!r} (known: {known})", param_hint=["--domain"])
    return name


@app.callback()
def quarantine() -> None:
    """List quarantined events and replay them after a schema or data fix."""


@app.command("list")
def list_rows(
    domain: DomainOption = None,
    reason: ReasonOption = None,
    limit: Annotated[int, typer.Option("--limit", help="Most rows listed after the counts.")] = 20,
) -> None:
    """Count quarantined events by domain, event and reason; then list rows with source, offset and reason."""
    from pipelines.cli.lake import holds_tables, nothing_yet
    from pipelines.core.names import Layer
    from pipelines.services.quarantine import count_by_reason, select_rows

    console = Console()  # sized from COLUMNS now, not at import
    runtime = _runtime()
    if not holds_tables(runtime.settings):
        console.print(f"nothing in quarantine: {nothing_yet(runtime.settings)}")
        return
    names = [_domain(runtime, domain)] if domain else sorted(runtime.domains)
    counts = Table("domain", "event", "reason", "count", title="quarantined events")
    rows = Table("domain", "event", "offset", "reason", "quarantined at", "run")
    rows.add_column("source", overflow="fold")  # a path: shown whole
    total = listed = 0
    for name in names:
        store = runtime.store_for(name, Layer.QUARANTINE)
        table = runtime.domain(name).quarantine_table()
        if not store.exists(table):
            continue
        data = select_rows(store.read(table), reason_prefix=reason).sort_by(
            [("event", "ascending"), ("source", "ascending"), ("offset", "ascending")]
        )
        for event, kind, n in count_by_reason(data):
            counts.add_row(name, event, kind, str(n))
        total += data.num_rows
        for row in data.slice(0, max(0, limit - listed)).to_pylist():
            at = row["quarantined_at"].isoformat(timespec="seconds")
            rows.add_row(name, row["event"], str(row["offset"]), row["reason"], at, row["run_id"], row["source"])
            listed += 1
    if not total:
        console.print("nothing in quarantine" + (f" with a reason starting {reason!r}" if reason else ""))
        return
    console.print(counts)
    console.print(rows)
    if listed < total:
        console.print(f"{listed} of {total} rows listed (--limit)")


@app.command()
def replay(
    domain: Annotated[str, typer.Option("--domain", help="The domain whose quarantine is replayed.")],
    event: Annotated[str | None, typer.Option("--event", help="Only this event type.")] = None,
    reason: ReasonOption = None,
) -> None:
    """Re-decode quarantined events with the current schema and contract; those that pass move to bronze.

    Exactly once: a replay that stops midway is finished by the next one, nothing lands twice.
    """
    from pipelines.cli.run_cmds import progress_bar
    from pipelines.services.event_log import step_events
    from pipelines.services.replay import replay_quarantine

    console = Console()
    runtime = _runtime()
    spec = runtime.domain(_domain(runtime, domain))
    if event is not None and event not in spec.spec.events:
        known = ", ".join(sorted(spec.spec.events))
        raise typer.BadParameter(f"{domain} has no event {event!r} (known: {known})", param_hint="--event")
    run_id = f"replay-{uuid.uuid4()}"
    with progress_bar() as bar, step_events(runtime, domain, f"{domain}/quarantine/replay", run_id):
        task = bar.add_task(f"replay {domain}" + (f" ({event})" if event else ""), total=None)
        result = replay_quarantine(
            spec,
            lambda name: runtime.contract(domain, name),
            runtime,
            run_id,
            event=event,
            reason_prefix=reason,
            descriptors=runtime.domain_schemas(domain).descriptor_set,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"replayed {result.replayed} event(s) into bronze, {result.removed} left quarantine, "
        f"{result.still_rejected} stay"
    )
    for why, n in sorted(result.reasons.items(), key=lambda item: -item[1]):
        console.print(f"  {n} still rejected: {why}")
