"""Who may see, read and write which Iceberg table: the mesh's grants applied to namespaces and tables.

A namespace is a domain. Its own domain's principal (and an admin) reads and writes every table in
it; any other principal reads only the domain's gold data products that are public or granted to it
(as `catalog.service.CatalogService.readable_products` says), never its bronze, silver, quarantine or
event-log tables. Every refusal is written to the catalog's audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from catalog.errors import Forbidden
from catalog.model import Principal, PrincipalKind
from catalog.service import CatalogService

AUDIT_PREFIX = "iceberg"


@dataclass
class Access:
    """One request's principal and what it may read (the readable products are looked up once)."""

    service: CatalogService
    who: Principal
    _readable: frozenset[str] | None = field(default=None, repr=False)

    def owns(self, namespace: str) -> bool:
        """Whether the principal writes `namespace` (its own domain, or an admin)."""
        return self.who.kind == PrincipalKind.ADMIN or (
            self.who.kind == PrincipalKind.DOMAIN and self.who.name == namespace
        )

    def may_read(self, namespace: str, table: str) -> bool:
        """Whether the principal may list and load `namespace.table`."""
        if self.owns(namespace):
            return True
        if self._readable is None:
            self._readable = frozenset(self.service.readable_products(self.who))
        return f"{namespace}.{table}" in self._readable

    def require_read(self, namespace: str, table: str, operation: str) -> None:
        """Raise (and audit) unless the principal may read the table.

        Raises:
            Forbidden: the table is another domain's internal table or a product not granted to the principal.
        """
        if self.may_read(namespace, table):
            return
        self.refuse(
            operation,
            f"{namespace}.{table}",
            f"principal {self.who.name!r} may not read {namespace}.{table}: another domain's tables are readable only "
            "as gold data products that are public or granted to the principal (never bronze, silver or quarantine)",
        )

    def require_write(self, namespace: str, subject: str, operation: str) -> None:
        """Raise (and audit) unless the principal writes `namespace`.

        Raises:
            Forbidden: only the namespace's own domain (or an admin) may write it.
        """
        if self.owns(namespace):
            return
        self.refuse(
            operation,
            subject,
            f"principal {self.who.name!r} may not {operation} {subject}: only domain {namespace!r} "
            "(or an admin) writes its namespace",
        )

    def refuse(self, operation: str, subject: str, message: str) -> None:
        """Audit the refusal, then raise it.

        Raises:
            Forbidden: always.
        """
        self.service.record(self.who, f"{AUDIT_PREFIX}.refuse", subject, operation=operation, reason=message)
        raise Forbidden(message)

    def record(self, operation: str, subject: str, **detail: object) -> None:
        """Audit a write (`iceberg.<operation>`) by the principal."""
        self.service.record(self.who, f"{AUDIT_PREFIX}.{operation}", subject, **detail)
