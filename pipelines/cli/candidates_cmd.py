"""`meshlake candidates`: the gold versions write-audit-publish refused, kept for their domain to inspect."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from pipelines.ports.candidates import Candidate


def candidates(
    domain: Annotated[str | None, typer.Option("--domain", help="Only this domain.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the refused candidates of gold products: the version readers do not see, and the checks it failed.

    A refused candidate stays until a later build of the product is published or maintenance
    discards it; read it with its version (`read_candidate`) or, for Iceberg, its branch
    `meshlake-candidate`.
    """
    from pipelines.cli import context
    from pipelines.cli.lake import holds_tables, nothing_yet
    from pipelines.services.wap import refused_candidates

    console = Console()
    runtime = context.runtime()
    if domain is not None and domain not in runtime.domains:
        known = ", ".join(sorted(runtime.domains))
        raise typer.BadParameter(f"no domain {domain!r} (known: {known})", param_hint="--domain")
    if not holds_tables(runtime.settings):
        console.print(f"no candidates: {nothing_yet(runtime.settings)}")
        return
    domains = [runtime.domain(domain)] if domain else [runtime.domains[name] for name in sorted(runtime.domains)]
    found = refused_candidates(domains, runtime)
    if as_json:
        typer.echo(json.dumps([_row(c) for c in found], indent=1))
        return
    if not found:
        console.print("no refused candidates: every gold product's last build was published")
        return
    table = Table()
    for column in ("product", "candidate", "published", "failing checks", "run", "written (UTC)"):
        table.add_column(column, justify="right" if column in ("candidate", "published") else "left")
    for c in found:
        row = _row(c)
        table.add_row(row["product"], str(c.commit.version), str(c.base or ""), ", ".join(c.failing),
                      row["run_id"], row["written"])  # fmt: skip
    console.print(table)


def _row(candidate: Candidate) -> dict[str, Any]:
    return {
        "product": str(candidate.table),
        "candidate": candidate.commit.version,
        "published": candidate.base,
        "failing": list(candidate.failing),
        "run_id": candidate.commit.properties.get("meshlake.run_id", ""),
        "written": datetime.fromtimestamp(candidate.commit.timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
    }
