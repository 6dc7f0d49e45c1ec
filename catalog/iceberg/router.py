"""The Iceberg REST Catalog API under `/iceberg`, over the pyiceberg SQL catalog the pipelines commit to.

Paths, bodies and errors follow the Apache Iceberg REST OpenAPI spec (no `prefix`): engines point
their REST catalog at `http://HOST:PORT/iceberg`. Namespaces are domains and a gold product
`orders.daily_revenue` is table `daily_revenue` in namespace `orders`, as the pipelines name them.
Callers authenticate with a catalog bearer token (or exchange client credentials for one at
`/v1/oauth/tokens`) and see only what the mesh's grants let them (`catalog.iceberg.access`).
Commits go through `compat.commit_tables`: the same optimistic check on the catalog row as
pyiceberg's own commits, so a commit whose requirements no longer hold gets 409 and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.table import Table
from pyiceberg.table.metadata import new_table_metadata
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER
from pyiceberg.table.update import SetLocationUpdate, TableUpdate

from catalog.errors import InvalidInput, NotFound, Unauthenticated
from catalog.iceberg import oauth
from catalog.iceberg.access import AUDIT_PREFIX, Access
from catalog.iceberg.compat import TableChange, commit_tables
from catalog.iceberg.errors import ERROR_RESPONSES, IcebergRoute, answer_unmatched, conflicts_audited
from catalog.iceberg.models import (
    CommitTableResponse,
    CommitTransactionRequest,
    ConfigOut,
    CreateNamespaceRequest,
    CreateTableRequest,
    ListNamespaceResponse,
    ListTablesResponse,
    NamespaceResponse,
    RegisterTableRequest,
    TableResponse,
    UpdateTableRequest,
)
from catalog.iceberg.storage import VendedStorage
from catalog.model import PrincipalKind
from catalog.service import CatalogService
from catalog.uow import check_ident

PREFIX = "/iceberg"
NAMESPACE_SEPARATOR = "\x1f"
ENDPOINTS = [
    "GET /v1/{prefix}/namespaces",
    "POST /v1/{prefix}/namespaces",
    "GET /v1/{prefix}/namespaces/{namespace}",
    "HEAD /v1/{prefix}/namespaces/{namespace}",
    "GET /v1/{prefix}/namespaces/{namespace}/tables",
    "POST /v1/{prefix}/namespaces/{namespace}/tables",
    "POST /v1/{prefix}/namespaces/{namespace}/register",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/transactions/commit",
]
"""What `GET /v1/config` advertises: clients call nothing else (views, renames and namespace edits are not served)."""

_bearer = HTTPBearer(auto_error=False, description="A catalog token (`meshlake catalog token create`)")
PageSize = Annotated[int | None, Query(alias="pageSize", ge=1, le=10_000)]
PageToken = Annotated[str | None, Query(alias="pageToken", max_length=100)]


def _access(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Access:
    service: CatalogService = request.app.state.service
    try:
        who = service.authenticate(creds.credentials if creds else None)
    except Unauthenticated as exc:
        service.record("anonymous", f"{AUDIT_PREFIX}.refuse", request.url.path, reason=str(exc))
        raise
    return Access(service, who)


Caller = Annotated[Access, Depends(_access)]


def _json(model: BaseModel, status_code: int = 200) -> Response:
    """pyiceberg's own serialisation: aliases (`metadata-location`), absent fields left out rather than null."""
    return Response(model.model_dump_json(by_alias=True, exclude_none=True), status_code, media_type="application/json")


def _table(table: Table, config: dict[str, str]) -> Response:
    body = {"metadata": table.metadata, "metadata-location": table.metadata_location, "config": config}
    return _json(TableResponse.model_validate(body))


def _doc(model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": description}, **ERROR_RESPONSES}


def _namespace(text: str) -> str:
    """The domain a namespace path names; multi-level namespaces do not exist here."""
    parts = text.split(NAMESPACE_SEPARATOR)
    if len(parts) != 1 or not parts[0]:
        raise NoSuchNamespaceError(f"Namespace does not exist: {'.'.join(parts)}")
    return parts[0]


def _page(items: list[Any], token: str | None, size: int | None) -> tuple[list[Any], str | None]:
    """A page of `items` from the position `token` names; the next token, or None on the last page."""
    start = int(token) if token and token.isdigit() else 0
    if size is None:
        return items[start:], None
    end = start + size
    return items[start:end], str(end) if end < len(items) else None


def iceberg_router(
    catalog: SqlCatalog | Callable[[], SqlCatalog],
    storage: VendedStorage | Callable[[], VendedStorage] | None = None,
) -> APIRouter:
    """The router serving the Iceberg REST Catalog API under `/iceberg`.

    The catalog app keeps its `CatalogService` in `app.state.service`; tokens, grants and the audit
    log are that service's.

    Args:
        catalog: the pyiceberg SQL catalog of the tables (or a function opening it at the first request).
        storage: the storage settings each loaded table's `config` carries (default: none, local files), or a
            function giving them at the first request.
    """
    router = APIRouter(prefix=PREFIX, tags=["iceberg"], route_class=IcebergRoute)
    opened: list[SqlCatalog] = [catalog] if isinstance(catalog, SqlCatalog) else []

    given: list[VendedStorage] = [] if callable(storage) else [storage or VendedStorage()]

    def _vended() -> VendedStorage:
        if not given:
            assert callable(storage)
            given.append(storage())
        return given[0]

    def _catalog() -> SqlCatalog:
        if not opened:
            assert callable(catalog)
            opened.append(catalog())
        return opened[0]

    def _load_readable(access: Access, namespace: str, table: str, operation: str) -> Table:
        access.require_read(namespace, table, operation)
        return _catalog().load_table((namespace, table))

    def _check_location(access: Access, namespace: str, location: str | None, subject: str) -> None:
        """A domain keeps its tables under `<warehouse>/<domain>/` (an admin may put them anywhere)."""
        if location is None or access.who.kind == PrincipalKind.ADMIN:
            return
        root = f"{_catalog().properties.get('warehouse', '').rstrip('/')}/{namespace}/"
        if not location.rstrip("/").startswith(root):
            access.refuse("locate", subject, f"{subject}: a table of domain {namespace!r} must live under {root}")

    def _check_updates(access: Access, namespace: str, updates: tuple[TableUpdate, ...], subject: str) -> None:
        for update in updates:
            if isinstance(update, SetLocationUpdate):
                _check_location(access, namespace, update.location, subject)

    @router.get("/v1/config", responses=_doc(ConfigOut, "Catalog configuration"))
    def get_config(access: Caller, warehouse: Annotated[str | None, Query(max_length=1000)] = None) -> Response:
        """Client configuration: no prefix, and the endpoints served (any `warehouse` name is accepted)."""
        return _json(ConfigOut(endpoints=ENDPOINTS))

    @router.post(
        "/v1/oauth/tokens",
        openapi_extra=oauth.OPENAPI,
        responses={200: {"model": oauth.TokenResponse}, 400: {"model": oauth.OAuthErrorResponse}},
    )
    async def get_token(request: Request) -> Response:
        """OAuth2 client credentials: `client_id` is a principal, `client_secret` one of its catalog tokens."""
        service: CatalogService = request.app.state.service
        return oauth.token_response(service, await request.body(), request.headers.get("authorization"))

    @router.get("/v1/namespaces", responses=_doc(ListNamespaceResponse, "The namespaces (domains)"))
    def list_namespaces(
        access: Caller,
        parent: Annotated[str | None, Query(max_length=1000)] = None,
        page_token: PageToken = None,
        page_size: PageSize = None,
    ) -> Response:
        """Every namespace: one per domain with Iceberg tables (domain names are not secret)."""
        if parent:
            name = _namespace(parent)
            if not _catalog().namespace_exists(name):
                raise NoSuchNamespaceError(f"Namespace does not exist: {name}")
            return _json(ListNamespaceResponse(namespaces=[]))
        names = sorted(Catalog.namespace_to_string(ns) for ns in _catalog().list_namespaces())
        page, token = _page(names, page_token, page_size)
        return _json(
            ListNamespaceResponse.model_validate({"namespaces": [(n,) for n in page], "next-page-token": token})
        )

    @router.post("/v1/namespaces", responses=_doc(NamespaceResponse, "The namespace created"))
    def create_namespace(access: Caller, body: CreateNamespaceRequest) -> Response:
        """Create the namespace of the caller's own domain (an admin: any domain)."""
        if len(body.namespace) != 1:
            raise InvalidInput("namespace: a namespace is one domain name (no nesting)")
        name = body.namespace[0]
        check_ident(name, "namespace")
        access.require_write(name, name, "create namespace")
        _catalog().create_namespace(name, body.properties)
        access.record("namespace.create", name, properties=body.properties)
        return _json(NamespaceResponse(namespace=(name,), properties=body.properties))

    @router.get("/v1/namespaces/{namespace}", responses=_doc(NamespaceResponse, "The namespace's properties"))
    def load_namespace(access: Caller, namespace: str) -> Response:
        """A namespace's properties."""
        name = _namespace(namespace)
        properties = _catalog().load_namespace_properties(name)
        return _json(NamespaceResponse(namespace=(name,), properties=properties))

    @router.head("/v1/namespaces/{namespace}", status_code=204, responses=ERROR_RESPONSES)
    def namespace_exists(access: Caller, namespace: str) -> Response:
        """204 if the namespace exists, else 404."""
        name = _namespace(namespace)
        if not _catalog().namespace_exists(name):
            raise NoSuchNamespaceError(f"Namespace does not exist: {name}")
        return Response(status_code=204)

    @router.get("/v1/namespaces/{namespace}/tables", responses=_doc(ListTablesResponse, "The tables visible"))
    def list_tables(
        access: Caller, namespace: str, page_token: PageToken = None, page_size: PageSize = None
    ) -> Response:
        """The namespace's tables the caller may read: all for its own domain, else its public or granted products."""
        name = _namespace(namespace)
        tables = sorted(t for _, t in _catalog().list_tables(name) if access.may_read(name, t))
        page, token = _page(tables, page_token, page_size)
        entries = [{"namespace": (name,), "name": t} for t in page]
        return _json(ListTablesResponse.model_validate({"identifiers": entries, "next-page-token": token}))

    @router.post("/v1/namespaces/{namespace}/tables", responses=_doc(TableResponse, "The table created"))
    def create_table(access: Caller, namespace: str, body: CreateTableRequest) -> Response:
        """Create a table in the caller's own namespace (`stage-create`: only the metadata, committed later)."""
        name = _namespace(namespace)
        subject = f"{name}.{body.name}"
        access.require_write(name, subject, "create")
        check_ident(body.name, "table name")
        _check_location(access, name, body.location, subject)
        if not _catalog().namespace_exists(name):
            raise NoSuchNamespaceError(f"Namespace does not exist: {name}")
        spec = body.partition_spec or UNPARTITIONED_PARTITION_SPEC
        order = body.write_order or UNSORTED_SORT_ORDER
        if body.stage_create:
            location = body.location or f"{_catalog().properties['warehouse'].rstrip('/')}/{name}/{body.name}"
            metadata = new_table_metadata(body.table_schema, spec, order, location, body.properties)
            config = _vended().config(access.who.name, owner=True)
            return _json(TableResponse.model_validate({"metadata": metadata, "config": config}))
        table = _catalog().create_table(
            (name, body.name), body.table_schema, body.location, spec, order, body.properties
        )
        access.record("create", subject, metadata_location=table.metadata_location)
        return _table(table, _vended().config(access.who.name, owner=True))

    @router.post("/v1/namespaces/{namespace}/register", responses=_doc(TableResponse, "The table registered"))
    def register_table(access: Caller, namespace: str, body: RegisterTableRequest) -> Response:
        """Register an existing metadata file as a table of the caller's own namespace."""
        name = _namespace(namespace)
        subject = f"{name}.{body.name}"
        access.require_write(name, subject, "register")
        check_ident(body.name, "table name")
        _check_location(access, name, body.metadata_location, subject)
        if body.overwrite:
            raise NotImplementedError("register with overwrite is not supported: drop the table first")
        table = _catalog().register_table((name, body.name), body.metadata_location)
        access.record("register", subject, metadata_location=table.metadata_location)
        return _table(table, _vended().config(access.who.name, owner=True))

    @router.get("/v1/namespaces/{namespace}/tables/{table}", responses=_doc(TableResponse, "The table's metadata"))
    def load_table(
        access: Caller, namespace: str, table: str, snapshots: Annotated[str | None, Query(max_length=10)] = None
    ) -> Response:
        """A table's current metadata, if the caller may read it (403 says why not)."""
        name = _namespace(namespace)
        loaded = _load_readable(access, name, table, "load")
        return _table(loaded, _vended().config(access.who.name, owner=access.owns(name)))

    @router.head("/v1/namespaces/{namespace}/tables/{table}", status_code=204, responses=ERROR_RESPONSES)
    def table_exists(access: Caller, namespace: str, table: str) -> Response:
        """204 if the table exists and the caller may read it."""
        name = _namespace(namespace)
        access.require_read(name, table, "load")
        if not _catalog().table_exists((name, table)):
            raise NoSuchTableError(f"Table does not exist: {name}.{table}")
        return Response(status_code=204)

    @router.post(
        "/v1/namespaces/{namespace}/tables/{table}", responses=_doc(CommitTableResponse, "The table's new metadata")
    )
    def update_table(access: Caller, namespace: str, table: str, body: UpdateTableRequest) -> Response:
        """Commit requirements and updates to a table of the caller's own namespace (409: a requirement failed)."""
        name = _namespace(namespace)
        if body.identifier is not None and (tuple(body.identifier.namespace.root), body.identifier.name) != (
            (name,),
            table,
        ):
            raise InvalidInput("identifier: the body names another table than the path")
        change = TableChange((name, table), body.requirements, body.updates)
        (response,) = _commit(access, [change])
        return _json(response)

    @router.delete("/v1/namespaces/{namespace}/tables/{table}", status_code=204, responses=ERROR_RESPONSES)
    def drop_table(
        access: Caller,
        namespace: str,
        table: str,
        purge: Annotated[bool, Query(alias="purgeRequested")] = False,
    ) -> Response:
        """Drop a table of the caller's own namespace; `purgeRequested` also deletes its files."""
        name = _namespace(namespace)
        subject = f"{name}.{table}"
        access.require_write(name, subject, "drop")
        if purge:
            _catalog().purge_table((name, table))
        else:
            _catalog().drop_table((name, table))
        access.record("drop", subject, purge=purge)
        return Response(status_code=204)

    @router.post("/v1/transactions/commit", status_code=204, responses=ERROR_RESPONSES)
    def commit_transaction(access: Caller, body: CommitTransactionRequest) -> Response:
        """Commit changes to several tables at once: all of them, or none (409)."""
        changes = []
        for item in body.table_changes:
            namespace = tuple(item.identifier.namespace.root)
            if len(namespace) != 1:
                raise NotFound(f"namespace {'.'.join(namespace)!r} does not exist")
            changes.append(TableChange((namespace[0], item.identifier.name), item.requirements, item.updates))
        _commit(access, changes)
        return Response(status_code=204)

    def _commit(access: Access, changes: list[TableChange]) -> list[CommitTableResponse]:
        subjects = [f"{c.identifier[0]}.{c.identifier[1]}" for c in changes]
        for change, subject in zip(changes, subjects, strict=True):
            access.require_write(change.identifier[0], subject, "commit")
            _check_updates(access, change.identifier[0], change.updates, subject)
        with conflicts_audited(access, subjects):
            responses = commit_tables(_catalog(), changes)
        for change, subject, response in zip(changes, subjects, responses, strict=True):
            snapshot = response.metadata.current_snapshot_id
            access.record(
                "commit",
                subject,
                metadata_location=response.metadata_location,
                snapshot_id=snapshot,
                updates=[u.action for u in change.updates],
            )
        return responses

    answer_unmatched(router)
    return router
