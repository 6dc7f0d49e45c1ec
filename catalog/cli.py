"""`meshlake catalog …`: search, show, grant, revoke and export products; serve the catalog; manage tokens."""

from __future__ import annotations

import getpass
import json
import logging
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from catalog.errors import CatalogError, NotFound
from catalog.principal_kind import PrincipalKind

if TYPE_CHECKING:  # imported by the commands that use them, so that `--help` stays instant
    from catalog.client import CatalogClient
    from catalog.local import LocalCatalog
    from catalog.model import ProductSummary
    from catalog.service import CatalogService
    from pipelines.settings import Settings

    Catalog = CatalogClient | LocalCatalog

app = typer.Typer(
    help="The data-product catalog. With --url (setting catalog_url) it talks to a catalog service using "
    "--token (catalog_token); without, it opens the catalog database (catalog_db, default "
    "<home>/catalog/catalog.db) directly, as an admin recorded as local:<user> in the audit log.",
    no_args_is_help=True,
)
token_app = typer.Typer(help="Create, list and revoke bearer tokens (works on the database directly).")
app.add_typer(token_app, name="token")
out = Console()

Url = Annotated[
    str | None,
    typer.Option("--url", help="Catalog service URL; default: the setting catalog_url (MESHLAKE_CATALOG_URL)."),
]
Token = Annotated[
    str | None,
    typer.Option("--token", help="Bearer token; default: the setting catalog_token (MESHLAKE_CATALOG_TOKEN)."),
]
Db = Annotated[
    str | None,
    typer.Option("--db", help="Catalog database URL; default: the setting catalog_db (MESHLAKE_CATALOG_DB)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ProductArg = Annotated[str, typer.Argument(help="<domain>.<product>")]
_log = logging.getLogger(__name__)


def _say(message: str, level: int = logging.INFO) -> None:
    """A line for the user on stderr (a JSON log line with the log format json)."""
    from pipelines.logs import say

    say(message, level, __name__)


def _service(db: str | None) -> CatalogService:
    from catalog.service import CatalogService

    return CatalogService.open(_db(db))


def _settings() -> Settings:
    """meshlake's settings (project file < MESHLAKE_* < `meshlake --project`), for what the options leave out."""
    from pipelines.cli import context

    return context.settings()


def _db(db: str | None) -> str:
    """`--db`, else the settings' catalog database."""
    return db or _settings().catalog_db_url


def _missing_database(url: str | None, db: str | None) -> str | None:
    """The SQLite file of the catalog when a read would create it (it does not exist yet), else None."""
    from pipelines.cli.lake import missing_sqlite

    if url or (db is None and _settings().catalog_url):
        return None
    missing = missing_sqlite(_db(db))
    return None if missing is None else str(missing)


def _nothing_yet(path: str) -> str:
    from pipelines.cli.lake import no_catalog_yet

    return no_catalog_yet(path)


def _no_catalog(url: str | None, db: str | None) -> bool:
    """Say so when there is no catalog database yet, rather than create one to list nothing."""
    if missing := _missing_database(url, db):
        _say(_nothing_yet(missing))
    return missing is not None


def _open(url: str | None, token: str | None, db: str | None) -> Catalog:
    from catalog.client import CatalogClient
    from catalog.local import LocalCatalog
    from catalog.model import Principal

    if url is None and db is None:
        url = _settings().catalog_url
    if token is None and (url or db is None):
        token = _settings().token
    if url:
        if not token:
            raise typer.BadParameter("a token is needed with --url (--token or the setting catalog_token)")
        return CatalogClient(url, token)
    service = _service(db)
    who = service.authenticate(token) if token else Principal(name=_local(), kind=PrincipalKind.ADMIN)
    return LocalCatalog(service, who)


def _local() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"local:{user}"[:63]


@contextmanager
def _errors_exit() -> Iterator[None]:
    """A catalog error in the block is printed and the command exits 1."""
    try:
        yield
    except CatalogError as exc:
        _log.debug("the error below comes from here", exc_info=exc)  # shown with meshlake --verbose
        _say(str(exc), logging.ERROR)
        raise typer.Exit(1) from exc


@contextmanager
def _catalog(url: str | None, token: str | None, db: str | None, read: str | None = None) -> Iterator[Catalog]:
    """The catalog service over HTTP (with --url) or its database, closed after the block; errors exit 1.

    Args:
        read: a command that only reads `read` (a product) never creates the database: it fails with
            "no catalog yet" instead.
    """
    with _errors_exit():
        if read is not None and (missing := _missing_database(url, db)):
            raise NotFound(f"{read}: {_nothing_yet(missing)}")
        catalog = _open(url, token, db)
        try:
            yield catalog
        finally:
            catalog.close()


def _table(products: list[ProductSummary], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps([p.model_dump(mode="json") for p in products]))
        return
    table = Table("product", "owner", "freshness", "quality", "latest version", "description")
    for p in products:
        latest = p.latest_version.materialized_at.strftime("%Y-%m-%d %H:%M") if p.latest_version else "-"
        table.add_row(p.name, p.owner, p.freshness.value, p.quality.value, latest, p.description)
    out.print(table)


@app.command("list")
def list_(
    url: Url = None, token: Token = None, db: Db = None, domain: str | None = None, as_json: AsJson = False
) -> None:
    """List the products you may read."""
    if _no_catalog(url, db):
        return
    with _catalog(url, token, db) as catalog:
        _table(catalog.list_products(domain_name=domain, limit=500), as_json)


@app.command()
def search(
    text: Annotated[str | None, typer.Argument(help="Text in name, description, owner, tags, columns")] = None,
    domain: str | None = None,
    tag: str | None = None,
    owner: str | None = None,
    column: Annotated[str | None, typer.Option(help="Part of a column name")] = None,
    url: Url = None,
    token: Token = None,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Search products by text, domain, tag, owner or column name."""
    if _no_catalog(url, db):
        return
    with _catalog(url, token, db) as catalog:
        found = catalog.list_products(text=text, domain_name=domain, tag=tag, owner=owner, column=column, limit=500)
        _table(found, as_json)


@app.command()
def show(product: ProductArg, url: Url = None, token: Token = None, db: Db = None, as_json: AsJson = False) -> None:
    """Show one product: schema, owner, freshness, quality, lineage and latest versions."""
    with _catalog(url, token, db, read=product) as catalog:
        p = catalog.get_product(product, versions=10)
    if as_json:
        out.print_json(p.model_dump_json())
        return
    out.print(f"[bold]{p.name}[/]  {p.status.value}, {'public' if p.public else 'granted readers only'}")
    out.print(p.description)
    out.print(f"owner {p.owner} · format {p.table_format} · location {p.location or '-'}")
    sla = f"{p.freshness_sla_minutes} min" if p.freshness_sla_minutes else "none"
    out.print(f"freshness {p.freshness.value} (SLA {sla}) · quality {p.quality.value}")
    out.print(f"contract v{p.contract_version} · schema hash {p.schema_hash}")
    out.print(f"upstream {', '.join(p.upstream) or '-'} · downstream {', '.join(p.downstream) or '-'}")
    columns = Table("column", "type", "nullable", "pii", "doc", title="schema")
    for c in p.columns:
        columns.add_row(c.name, c.type, "yes" if c.nullable else "no", "PII" if c.pii else "", c.doc)
    out.print(columns)
    checks = Table("check", "result", "severity", "expectation", title="quality (latest run)")
    for check in p.checks:
        checks.add_row(check.check, "passed" if check.passed else "FAILED", check.severity.value, check.message)
    out.print(checks if p.checks else "quality: no check results yet")
    versions = Table("#", "version", "rows", "materialised", "run", title=f"versions ({p.version_count})")
    for v in p.versions:
        versions.add_row(str(v.seq), str(v.version), f"{v.row_count:,}", v.materialized_at.isoformat(), v.run_id)
    out.print(versions)


@app.command()
def grant(
    product: ProductArg,
    consumer: Annotated[str, typer.Argument(help="Consumer domain (or reader) to let read the product")],
    url: Url = None,
    token: Token = None,
    db: Db = None,
) -> None:
    """Let a consumer domain read a product (its owning domain or an admin may)."""
    with _catalog(url, token, db) as catalog:
        _, created = catalog.grant(product, consumer)
    out.print(f"{consumer} may read {product}" + ("" if created else " (already granted)"))


@app.command()
def revoke(
    product: ProductArg,
    consumer: Annotated[str, typer.Argument(help="Consumer whose grant to withdraw")],
    url: Url = None,
    token: Token = None,
    db: Db = None,
) -> None:
    """Withdraw a consumer's grant on a product."""
    with _catalog(url, token, db) as catalog:
        catalog.revoke(product, consumer)
    out.print(f"{consumer} may no longer read {product}")


@app.command()
def contract(product: ProductArg, url: Url = None, token: Token = None, db: Db = None) -> None:
    """Print the product's Open Data Contract Standard (v3) YAML."""
    with _catalog(url, token, db, read=product) as catalog:
        typer.echo(catalog.contract(product), nl=False)


@app.command()
def audit(
    limit: Annotated[int, typer.Option(help="How many entries, newest first")] = 50,
    subject: Annotated[str | None, typer.Option(help="Only this domain or product")] = None,
    url: Url = None,
    token: Token = None,
    db: Db = None,
) -> None:
    """Show the audit log: who wrote what, and when (admins: all; a domain: its own)."""
    if _no_catalog(url, db):
        return
    with _catalog(url, token, db) as catalog:
        entries = catalog.audit(limit=limit, subject=subject)
    table = Table("when (UTC)", "who", "action", "subject", "detail")
    for e in entries:
        table.add_row(e.at.strftime("%Y-%m-%d %H:%M:%S"), e.principal, e.action, e.subject, json.dumps(e.detail))
    out.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    db: Db = None,
) -> None:
    """Run the catalog service (API under /api, Iceberg REST catalog under /iceberg, web page at /); upgrades the
    database first."""
    import uvicorn

    from catalog.api import create_app
    from catalog.iceberg import PREFIX as ICEBERG_PREFIX
    from catalog.plugins import plugged_panels, plugged_routers
    from pipelines.logs import say, server_log_config

    fmt = _settings().log_format
    service = _service(db)
    if not service.list_tokens():
        say("no tokens yet: meshlake catalog token create --principal admin --kind admin", logger=__name__, fmt=fmt)
    routers = plugged_routers()
    say(f"catalog on http://{host}:{port}/ (OpenAPI: /docs)", logger=__name__, fmt=fmt)
    if any(router.prefix == ICEBERG_PREFIX for router in routers):
        say(f"Iceberg REST catalog on http://{host}:{port}{ICEBERG_PREFIX}", logger=__name__, fmt=fmt)
    log_config = server_log_config(fmt)
    uvicorn.run(create_app(service, routers, plugged_panels()), host=host, port=port, log_config=log_config)


@token_app.command("create")
def token_create(
    principal: Annotated[str, typer.Option(help="Domain name, reader name, or admin name")],
    kind: Annotated[PrincipalKind, typer.Option(help="domain: writes its own products")] = PrincipalKind.DOMAIN,
    db: Db = None,
) -> None:
    """Create a token and print it once (only its SHA-256 is stored)."""
    with _errors_exit(), closing(_service(db)) as service:
        secret = service.create_token(principal, kind, actor=_local())
    _say(f"token for {kind.value} {principal!r} (shown once):")
    typer.echo(secret)


@token_app.command("list")
def token_list(db: Db = None) -> None:
    """List tokens (never their secrets)."""
    if _no_catalog(None, db):
        return
    service = _service(db)
    table = Table("id", "principal", "kind", "created", "state")
    for t in service.list_tokens():
        table.add_row(
            str(t.id),
            t.principal,
            t.kind.value,
            t.created_at.isoformat(),
            "revoked" if t.revoked else "active",
        )
    service.close()
    out.print(table)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="Id from `token list`")], db: Db = None) -> None:
    """Revoke a token; it stops working at once."""
    with _errors_exit(), closing(_service(db)) as service:
        service.revoke_token(token_id, actor=_local())
    out.print(f"token {token_id} revoked")
