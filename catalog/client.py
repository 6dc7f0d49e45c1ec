"""HTTP client of the catalog service (httpx); raises the same errors as the service layer."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from catalog.errors import CatalogError, Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from catalog.model import (
    AuditEntry,
    CheckResult,
    ChecksIn,
    Domain,
    DomainIn,
    Grant,
    Principal,
    Product,
    ProductIn,
    ProductSummary,
    Version,
    VersionIn,
)

T = TypeVar("T")
_ERRORS: dict[int, type[CatalogError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    400: InvalidInput,
    422: InvalidInput,
}


def _message(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text or response.reason_phrase
    if isinstance(detail, list):  # FastAPI validation errors: name each field
        return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in detail)
    return str(detail)


class CatalogClient:
    """Talks to a catalog service with a bearer token.

    Args:
        base_url: e.g. `http://127.0.0.1:8765`.
        token: a token from `meshlake catalog token create`.
        timeout: seconds per request.
        transport: an httpx transport (tests); default retries failed connections 3 times.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "meshlake-catalog-client"},
            timeout=timeout,
            transport=transport or httpx.HTTPTransport(retries=3),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> CatalogClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        response = self._http.request(method, f"/api{path}", json=json, params=clean)
        if response.status_code >= 400:
            error = _ERRORS.get(response.status_code, CatalogError)
            raise error(f"{response.status_code} {method} {path}: {_message(response)}")
        return response

    @staticmethod
    def _as(kind: type[T], response: httpx.Response) -> T:
        return TypeAdapter(kind).validate_python(response.json())

    @staticmethod
    def _body(model: BaseModel) -> Any:
        return model.model_dump(mode="json", exclude_none=True)

    def me(self) -> Principal:
        """Who the token belongs to."""
        return self._as(Principal, self._call("GET", "/me"))

    def put_domain(self, name: str, spec: DomainIn) -> tuple[Domain, bool]:
        """Register or update a domain; returns it and whether it was created."""
        response = self._call("PUT", f"/domains/{name}", json=self._body(spec))
        return self._as(Domain, response), response.status_code == 201

    def list_domains(self) -> list[Domain]:
        return self._as(list[Domain], self._call("GET", "/domains"))

    def list_products(self, **filters: Any) -> list[ProductSummary]:
        """Search readable products: `text`, `domain_name`, `tag`, `owner`, `column`, `status`, `limit`."""
        params = dict(filters)
        params["q"] = params.pop("text", None)
        params["domain"] = params.pop("domain_name", None)
        return self._as(list[ProductSummary], self._call("GET", "/products", params=params))

    def get_product(self, name: str, versions: int = 20) -> Product:
        return self._as(Product, self._call("GET", f"/products/{name}", params={"versions": versions}))

    def put_product(self, name: str, spec: ProductIn) -> tuple[Product, bool]:
        """Create or update a product; returns it and whether it was created."""
        response = self._call("PUT", f"/products/{name}", json=self._body(spec))
        return self._as(Product, response), response.status_code == 201

    def register_version(self, name: str, spec: VersionIn) -> tuple[Version, bool]:
        """Register a version; returns it and whether it was new."""
        response = self._call("POST", f"/products/{name}/versions", json=self._body(spec))
        return self._as(Version, response), response.status_code == 201

    def list_versions(self, name: str, limit: int = 50, offset: int = 0) -> list[Version]:
        params = {"limit": limit, "offset": offset}
        return self._as(list[Version], self._call("GET", f"/products/{name}/versions", params=params))

    def record_checks(self, name: str, checks: ChecksIn) -> list[CheckResult]:
        response = self._call("POST", f"/products/{name}/checks", json=self._body(checks))
        return self._as(list[CheckResult], response)

    def discard_candidate(self, name: str, version: int) -> None:
        """Maintenance discarded the refused candidate `version` of the product."""
        self._call("DELETE", f"/products/{name}/candidate/{version}")

    def grant(self, name: str, consumer: str) -> tuple[Grant, bool]:
        """Let `consumer` read the product; returns the grant and whether it is new."""
        response = self._call("PUT", f"/products/{name}/grants/{consumer}")
        return self._as(Grant, response), response.status_code == 201

    def revoke(self, name: str, consumer: str) -> None:
        self._call("DELETE", f"/products/{name}/grants/{consumer}")

    def list_grants(self, name: str) -> list[Grant]:
        return self._as(list[Grant], self._call("GET", f"/products/{name}/grants"))

    def contract(self, name: str) -> str:
        """The product's ODCS v3 YAML."""
        return self._call("GET", f"/products/{name}/contract").text

    def audit(self, limit: int = 100, subject: str | None = None) -> list[AuditEntry]:
        params = {"limit": limit, "subject": subject}
        return self._as(list[AuditEntry], self._call("GET", "/audit", params=params))

    def readable_products(self) -> list[str]:
        """Names of every product the token's principal may read."""
        names: list[str] = []
        while batch := self.list_products(limit=500, offset=len(names)):
            names += [p.name for p in batch]
            if len(batch) < 500:
                break
        return names
