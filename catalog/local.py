"""In-process access to the catalog as one principal, with the same methods as the HTTP client."""

from __future__ import annotations

from typing import Any

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
from catalog.service import CatalogService


class LocalCatalog:
    """The service layer bound to a principal: what `CatalogClient` does over HTTP, done in-process."""

    def __init__(self, service: CatalogService, principal: Principal) -> None:
        self.service = service
        self.principal = principal

    def close(self) -> None:
        self.service.close()

    def me(self) -> Principal:
        return self.principal

    def put_domain(self, name: str, spec: DomainIn) -> tuple[Domain, bool]:
        return self.service.put_domain(self.principal, name, spec)

    def list_domains(self) -> list[Domain]:
        return self.service.list_domains(self.principal)

    def list_products(self, **filters: Any) -> list[ProductSummary]:
        return self.service.list_products(self.principal, **filters)

    def get_product(self, name: str, versions: int = 20) -> Product:
        return self.service.get_product(self.principal, name, versions=versions)

    def put_product(self, name: str, spec: ProductIn) -> tuple[Product, bool]:
        return self.service.put_product(self.principal, name, spec)

    def register_version(self, name: str, spec: VersionIn) -> tuple[Version, bool]:
        return self.service.register_version(self.principal, name, spec)

    def list_versions(self, name: str, limit: int = 50, offset: int = 0) -> list[Version]:
        return self.service.list_versions(self.principal, name, limit=limit, offset=offset)

    def record_checks(self, name: str, checks: ChecksIn) -> list[CheckResult]:
        return self.service.record_checks(self.principal, name, checks)

    def discard_candidate(self, name: str, version: int) -> None:
        self.service.discard_candidate(self.principal, name, version)

    def grant(self, name: str, consumer: str) -> tuple[Grant, bool]:
        return self.service.grant(self.principal, name, consumer)

    def revoke(self, name: str, consumer: str) -> None:
        self.service.revoke(self.principal, name, consumer)

    def list_grants(self, name: str) -> list[Grant]:
        return self.service.list_grants(self.principal, name)

    def contract(self, name: str) -> str:
        return self.service.contract(self.principal, name)

    def audit(self, limit: int = 100, subject: str | None = None) -> list[AuditEntry]:
        return self.service.audit(self.principal, limit=limit, subject=subject)

    def readable_products(self) -> list[str]:
        return self.service.readable_products(self.principal)
