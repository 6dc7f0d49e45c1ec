"""The catalog's web page: product list with search and a page per product, server-rendered with Jinja2."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Cookie, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from catalog.errors import CatalogError, Forbidden, Unauthenticated
from catalog.model import Principal, utcnow
from catalog.service import CatalogService

log = logging.getLogger(__name__)
COOKIE = "meshlake_catalog_token"
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(default=True)
)


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = int((utcnow() - value).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


_env.filters["ago"] = _ago
router = APIRouter(include_in_schema=False)
TokenCookie = Annotated[str | None, Cookie(alias=COOKIE)]


def _render(template: str, status: int = 200, **context: object) -> HTMLResponse:
    return HTMLResponse(_env.get_template(template).render(**context), status_code=status)


def _service(request: Request) -> CatalogService:
    service: CatalogService = request.app.state.service
    return service


def _who(request: Request, token: str | None) -> Principal | None:
    try:
        return _service(request).authenticate(token)
    except Unauthenticated:
        return None


@router.get("/", response_class=HTMLResponse)
def index(request: Request, token: TokenCookie = None, q: str = "", domain: str = "", tag: str = "") -> Response:
    """The product list with search; the sign-in form when there is no valid token cookie."""
    who = _who(request, token)
    if who is None:
        return _render("login.html", error=None)
    service = _service(request)
    try:
        products = service.list_products(who, text=q or None, domain_name=domain or None, tag=tag or None, limit=500)
    except (CatalogError, ValueError) as exc:
        return _render("error.html", status=400, who=who, message=str(exc))
    domains = service.list_domains(who)
    return _render("list.html", who=who, products=products, domains=domains, q=q, domain=domain, tag=tag)


@router.get("/products/{name}", response_class=HTMLResponse)
def product_page(request: Request, name: str, token: TokenCookie = None) -> Response:
    """One product: schema, owner, freshness, quality, lineage, versions (and for its owners a refused candidate)."""
    who = _who(request, token)
    if who is None:
        return RedirectResponse("/", status_code=303)
    service = _service(request)
    try:
        product = service.get_product(who, name, versions=50)
    except CatalogError as exc:
        return _render("error.html", status=exc.status_code, who=who, message=str(exc))
    try:  # only the owning domain (and admins) see grants and a refused candidate
        grants, candidate = service.list_grants(who, name), service.refused_candidate(who, name)
    except Forbidden:
        grants, candidate = None, None
    panels = _panels(request, name)
    return _render("product.html", who=who, p=product, grants=grants, candidate=candidate, panels=panels)


def _panels(request: Request, name: str) -> list[Markup]:
    """The plugged-in sections of a product's page; one that fails is left out (and logged), not the page."""
    shown = []
    for panel in getattr(request.app.state, "panels", []):
        try:
            shown.append(Markup(panel(name)))
        except Exception:
            log.warning("product page panel %r failed for %s", panel, name, exc_info=True)
    return shown


@router.get("/products/{name}/contract.yaml")
def contract_file(request: Request, name: str, token: TokenCookie = None) -> Response:
    """The product's ODCS contract, for a browser."""
    who = _who(request, token)
    if who is None:
        return RedirectResponse("/", status_code=303)
    try:
        return PlainTextResponse(_service(request).contract(who, name), media_type="text/plain")
    except CatalogError as exc:
        return PlainTextResponse(str(exc), status_code=exc.status_code)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the pasted token and keep it in an HttpOnly, SameSite=Strict cookie."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    if _who(request, token) is None:
        return _render("login.html", status=401, error="Unknown or revoked token.")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=8 * 3600)
    return response


@router.post("/logout")
def logout() -> Response:
    """Forget the token cookie."""
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response
