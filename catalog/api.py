"""The catalog's HTTP API (FastAPI, OpenAPI at /openapi.json) and the app that also serves the web page."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline

from catalog.errors import CatalogError
from catalog.model import (
    IDENT_PATTERN,
    MAX_BIGINT,
    PRODUCT_PATTERN,
    AuditEntry,
    Candidate,
    CheckResult,
    ChecksIn,
    Domain,
    DomainIn,
    Grant,
    Principal,
    Product,
    ProductIn,
    ProductStatus,
    ProductSummary,
    ShortText,
    Version,
    VersionIn,
)
from catalog.plugins import ProductPanel
from catalog.service import CatalogService
from catalog.store import current_revision

log = logging.getLogger(__name__)

ProductPath = Annotated[
    str,
    Path(
        pattern=PRODUCT_PATTERN,
        max_length=127,
        description="`<domain>.<product>`",
        examples=["orders.daily_revenue"],
    ),
]
IdentPath = Annotated[str, Path(pattern=IDENT_PATTERN, max_length=63)]
VersionPath = Annotated[int, Path(ge=0, le=MAX_BIGINT, description="Iceberg snapshot id or Delta version")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
_bearer = HTTPBearer(auto_error=False, description="A token from `meshlake catalog token create`")
_YAML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/yaml": {"schema": {"type": "string"}}}, "description": "ODCS v3 YAML"}
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, unknown or revoked token"},
    403: {"description": "The principal may not do this"},
    404: {"description": "No such domain, product or grant"},
}


def _service(request: Request) -> CatalogService:
    service: CatalogService = request.app.state.service
    return service


Svc = Annotated[CatalogService, Depends(_service)]


def _principal(service: Svc, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    return service.authenticate(creds.credentials if creds else None)


Who = Annotated[Principal, Depends(_principal)]


def create_app(
    service: CatalogService, routers: Sequence[APIRouter] = (), panels: Sequence[ProductPanel] = ()
) -> FastAPI:
    """The catalog app: REST API under `/api`, HTML pages at `/`, API docs at `/docs` and `/redoc`.

    The docs pages load Swagger UI and ReDoc from the installed fastapi-offline package (served under
    `/static-offline-docs`), not from a CDN, so they work without a network.

    Args:
        service: the catalog service (its database already migrated).
        routers: more endpoints served beside the catalog's own (e.g. the query endpoint, plugged in by
            `catalog.plugins`).
        panels: more sections of each product page (e.g. its history charts, plugged in by `catalog.plugins`).
    """
    app = FastAPIOffline(
        title="meshlake catalog",
        version="1.0.0",
        description="Data products of every domain: registered, discoverable, governed.",
    )
    app.state.service = service
    app.state.panels = list(panels)

    @app.exception_handler(CatalogError)
    async def _catalog_error(_request: Request, exc: CatalogError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code, headers=headers)

    @app.get("/api/health", tags=["service"])
    def health(service: Svc) -> dict[str, str | None]:
        """Liveness and the database schema revision (no token needed)."""
        return {"status": "ok", "schema_revision": current_revision(service.engine)}

    @app.get("/api/me", tags=["service"], responses=_ERRORS)
    def me(service: Svc, who: Who) -> Principal:
        """The principal the bearer token belongs to."""
        return who

    @app.get("/api/domains", tags=["domains"], responses=_ERRORS)
    def list_domains(service: Svc, who: Who) -> list[Domain]:
        """Every registered domain."""
        return service.list_domains(who)

    @app.put("/api/domains/{domain}", tags=["domains"], responses=_ERRORS, status_code=200)
    def put_domain(service: Svc, domain: IdentPath, spec: DomainIn, who: Who, response: Response) -> Domain:
        """Register (201) or update (200) a domain: the domain's own team or an admin."""
        result, created = service.put_domain(who, domain, spec)
        response.status_code = 201 if created else 200
        return result

    @app.get("/api/products", tags=["products"], responses=_ERRORS)
    def list_products(
        service: Svc,
        who: Who,
        q: Annotated[ShortText | None, Query(description="Text in name, description, owner, tags, columns")] = None,
        domain: Annotated[ShortText | None, Query()] = None,
        tag: Annotated[ShortText | None, Query()] = None,
        owner: Annotated[ShortText | None, Query()] = None,
        column: Annotated[ShortText | None, Query(description="Part of a column name")] = None,
        status: ProductStatus | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[ProductSummary]:
        """Search the products the caller may read (public, own domain's, or granted)."""
        return service.list_products(
            who,
            text=q,
            domain_name=domain,
            tag=tag,
            owner=owner,
            column=column,
            status=status,
            limit=limit,
            offset=offset,
        )

    @app.get("/api/products/{product}", tags=["products"], responses=_ERRORS)
    def get_product(service: Svc, product: ProductPath, who: Who, versions: Limit = 20) -> Product:
        """Schema, owner, lineage, latest versions, freshness and quality of one product."""
        return service.get_product(who, product, versions=versions)

    @app.put("/api/products/{product}", tags=["products"], responses=_ERRORS, status_code=200)
    def put_product(service: Svc, product: ProductPath, spec: ProductIn, who: Who, response: Response) -> Product:
        """Register (201) or update (200) a product's description: its domain's team or an admin."""
        result, created = service.put_product(who, product, spec)
        response.status_code = 201 if created else 200
        return result

    @app.get("/api/products/{product}/versions", tags=["versions"], responses=_ERRORS)
    def list_versions(
        service: Svc, product: ProductPath, who: Who, limit: Limit = 50, offset: Offset = 0
    ) -> list[Version]:
        """A product's versions, newest first."""
        return service.list_versions(who, product, limit=limit, offset=offset)

    @app.post(
        "/api/products/{product}/versions",
        tags=["versions"],
        status_code=201,
        responses={
            **_ERRORS,
            200: {"description": "Already registered: nothing changed"},
            409: {"description": "Same version, other data"},
        },
    )
    def register_version(service: Svc, product: ProductPath, spec: VersionIn, who: Who, response: Response) -> Version:
        """Register one materialisation (201); the same version again changes nothing (200)."""
        result, created = service.register_version(who, product, spec)
        response.status_code = 201 if created else 200
        return result

    @app.post("/api/products/{product}/checks", tags=["quality"], responses=_ERRORS)
    def record_checks(service: Svc, product: ProductPath, checks: ChecksIn, who: Who) -> list[CheckResult]:
        """Record asset-check results; returns the latest result of every check."""
        return service.record_checks(who, product, checks)

    @app.get("/api/products/{product}/candidate", tags=["quality"], responses=_ERRORS)
    def refused_candidate(service: Svc, product: ProductPath, who: Who) -> Candidate | None:
        """The version the latest build wrote and its error checks refused (null: it published, or maintenance
        discarded it): owner and admins."""
        return service.refused_candidate(who, product)

    @app.delete("/api/products/{product}/candidate/{version}", tags=["quality"], responses=_ERRORS, status_code=204)
    def discard_candidate(service: Svc, product: ProductPath, version: VersionPath, who: Who) -> Response:
        """Maintenance discarded the refused candidate `version`: stop showing it (owner and admins)."""
        service.discard_candidate(who, product, version)
        return Response(status_code=204)

    @app.get("/api/products/{product}/grants", tags=["grants"], responses=_ERRORS)
    def list_grants(service: Svc, product: ProductPath, who: Who) -> list[Grant]:
        """Who may read the product (its domain's team or an admin may look)."""
        return service.list_grants(who, product)

    @app.put("/api/products/{product}/grants/{consumer}", tags=["grants"], responses=_ERRORS, status_code=200)
    def grant(service: Svc, product: ProductPath, consumer: IdentPath, who: Who, response: Response) -> Grant:
        """Let `consumer` read the product (201 new, 200 already granted)."""
        result, created = service.grant(who, product, consumer)
        response.status_code = 201 if created else 200
        return result

    @app.delete("/api/products/{product}/grants/{consumer}", tags=["grants"], responses=_ERRORS, status_code=204)
    def revoke(service: Svc, product: ProductPath, consumer: IdentPath, who: Who) -> Response:
        """Withdraw `consumer`'s grant."""
        service.revoke(who, product, consumer)
        return Response(status_code=204)

    @app.get(
        "/api/products/{product}/contract",
        tags=["products"],
        response_class=PlainTextResponse,
        responses={**_ERRORS, **_YAML},
    )
    def contract(service: Svc, product: ProductPath, who: Who) -> PlainTextResponse:
        """The product's data contract as Open Data Contract Standard v3 YAML."""
        return PlainTextResponse(service.contract(who, product), media_type="application/yaml")

    @app.get("/api/audit", tags=["service"], responses=_ERRORS)
    def audit(
        service: Svc, who: Who, limit: Limit = 100, subject: Annotated[ShortText | None, Query()] = None
    ) -> list[AuditEntry]:
        """Latest writes, newest first (all for admins, own domain's for a domain team)."""
        return service.audit(who, limit=limit, subject=subject)

    from catalog.web import router as web_router

    app.include_router(web_router)
    for router in routers:
        app.include_router(router)
    return app
