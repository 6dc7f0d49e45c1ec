"""`meshlake events`: what happened to the domains' tables, from their event logs (`<domain>.event_log`)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pipelines.cli.errors import CommandError

if TYPE_CHECKING:
    import pyarrow as pa

_AGO = re.compile(r"^(\d+)\s*(s|m|min|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime) -> datetime:
    """`--since`: an ISO-8601 date or time (UTC unless it says), or an age such as `30m`, `2h`, `7d`.

    Raises:
        typer.BadParameter: neither (a usage error).
    """
    if match := _AGO.match(value.strip()):
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither an ISO-8601 time (2026-10-05T12:00) nor an age (30m, 2h, 7d)", param_hint="--since"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _count(value: Any, unit: str) -> str | None:
    return None if value is None else f"{value:,} {unit}"


def summary(row: dict[str, Any]) -> str:
    """One line saying what an event log row records."""
    from pipelines.core.event_log import EventKind as Kind

    detail = json.loads(row["detail"]) if row["detail"] else {}
    kind = row["kind"]
    if kind == Kind.COMMIT:
        parts = [
            _count(row["rows_added"], "rows added"),
            _count(row["rows_updated"], "updated"),
            _count(row["rows_deleted"], "deleted"),
            _count(row["files_added"], "files added"),
            _count(row["files_removed"], "removed"),
            _count(row["bytes_added"], "bytes"),
        ]
        return ", ".join(p for p in parts if p) or "no counts recorded"
    if kind == Kind.QUARANTINE:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(detail.get("reasons", {}).items()))
        return f"{row['rows_added']:,} rejected ({reasons})"
    if kind == Kind.EXPECTATION:
        verdict = "passed" if row["passed"] else "FAILED"
        return f"{row['check_name']} ({row['severity']}) {verdict}, {row['observed']:g} failing rows"
    if kind == Kind.PUBLISH:
        return f"{row['rows']:,} rows" + ("" if detail.get("new_version", True) else " (already published)")
    if kind == Kind.SCHEMA_EVOLUTION:
        return "; ".join(detail.get("changes", []))
    if kind == Kind.MAINTENANCE:
        return (
            f"data files {detail.get('data_files_before')} -> {detail.get('data_files_after')}, "
            f"{detail.get('versions_expired')} versions expired"
        )
    if kind in (Kind.RUN_FINISHED, Kind.RUN_FAILED) and row["duration_ms"] is not None:
        took = f"took {row['duration_ms'] / 1000:.1f} s"
        return f"{took}: {row['message']}" if row["message"] else took
    return row["message"] or ""


def _print(rows: pa.Table, limit: int, console: Console) -> None:
    from pipelines.core.event_log import EventKind as Kind

    view = Table(title="events")
    for column in ("at (UTC)", "domain", "asset", "kind", "table", "version", "what", "run"):
        view.add_column(column, justify="right" if column == "version" else "left", overflow="fold")
    shown = rows.slice(max(0, rows.num_rows - limit))
    for row in shown.to_pylist():
        kind = row["kind"]
        style = "red" if kind == Kind.RUN_FAILED or (kind == Kind.EXPECTATION and not row["passed"]) else None
        view.add_row(
            row["happened_at"].strftime("%Y-%m-%d %H:%M:%S"),
            row["domain"],
            row["asset"],
            kind,
            row["table_name"] or "",
            "" if row["version"] is None else str(row["version"]),
            summary(row),
            row["run_id"][:8],
            style=style,
        )
    console.print(view)
    if rows.num_rows > limit:
        console.print(f"[dim]the last {limit} of {rows.num_rows} events (--limit)[/]")


def events(
    domain: Annotated[str | None, typer.Option("--domain", help="Only this domain.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="TIME", help="Only events since an ISO-8601 time or an age (2h).")
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help="Only events of this kind (repeatable): run_started, commit, publish, ..."),
    ] = None,
    principal: Annotated[
        str | None,
        typer.Option(help="Read as this domain: only its own event log (default: the setting principal)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most events printed (the latest).")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows instead of a table.")] = False,
) -> None:
    """Print what happened to the domains' tables: runs, commits, quarantine, checks, publishing, maintenance."""
    import pyarrow as pa

    from pipelines.cli import context
    from pipelines.cli.lake import holds_tables, nothing_yet
    from pipelines.cli.results import write_result
    from pipelines.core.event_log import EventKind
    from pipelines.core.names import Layer
    from pipelines.services.event_log import read_events
    from pipelines.serving.products import Access

    if unknown := sorted(set(kind or []) - set(EventKind)):
        known = ", ".join(EventKind)
        raise typer.BadParameter(f"unknown kind(s) {', '.join(unknown)} (known: {known})", param_hint="--kind")
    console = Console()
    runtime = context.runtime()
    when = parse_since(since, datetime.now(UTC)) if since else None
    if domain is not None and domain not in runtime.domains:
        known = ", ".join(sorted(runtime.domains))
        raise typer.BadParameter(f"no domain {domain!r} (known: {known})", param_hint="--domain")
    if not holds_tables(runtime.settings):
        console.print(f"no events: {nothing_yet(runtime.settings)}")
        return
    who = principal or runtime.settings.principal
    access = Access(who, frozenset()) if who else Access()  # a domain reads its own event log: no grant to look up
    names = [domain] if domain else sorted(runtime.domains)
    if domain and not access.allows(f"{domain}.event_log"):
        raise CommandError(f"{access.who} may not read {domain}.event_log: only its domain and admins may")
    found = [
        read_events(
            runtime.store_for(name, Layer.EVENT_LOG),
            runtime.domain(name).event_log_table(),
            when,
            kind or [],
        )
        for name in names
        if access.allows(f"{name}.event_log")
    ]
    rows = pa.concat_tables(found).sort_by([("happened_at", "ascending")]) if found else None
    if rows is None or not rows.num_rows:
        console.print("no events" + (" matching --since/--kind" if since or kind else " yet"))
        return
    if as_json:
        from pipelines.cli.query_cmd import OutputFormat

        write_result(rows.slice(max(0, rows.num_rows - limit)), OutputFormat.JSON, typer.get_binary_stream("stdout"))
        return
    _print(rows, limit, console)
