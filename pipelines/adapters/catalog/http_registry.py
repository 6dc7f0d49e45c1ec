"""HttpProductRegistry: the ProductRegistry port over the catalog's HTTP API (and the shared translation)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from pydantic import ValidationError

from catalog.client import CatalogClient
from catalog.errors import CatalogError, Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from catalog.model import (
    ChecksIn,
    DomainIn,
    Grant,
    Product,
    ProductIn,
    Version,
    VersionIn,
)
from catalog.model import Domain as CatalogDomain
from pipelines.ports.registry import (
    CheckResult,
    ProductDescription,
    ProductVersion,
    RegistryConflictError,
    RegistryError,
    RegistryInvalidError,
    RegistryNotFoundError,
    RegistryPermissionError,
)

T = TypeVar("T")


class CatalogHandle(Protocol):
    """What both `catalog.client.CatalogClient` and `catalog.local.LocalCatalog` offer."""

    def put_domain(self, name: str, spec: DomainIn) -> tuple[CatalogDomain, bool]: ...
    def put_product(self, name: str, spec: ProductIn) -> tuple[Product, bool]: ...
    def get_product(self, name: str, versions: int = 20) -> Product: ...
    def register_version(self, name: str, spec: VersionIn) -> tuple[Version, bool]: ...
    def record_checks(self, name: str, checks: ChecksIn) -> object: ...
    def discard_candidate(self, name: str, version: int) -> None: ...
    def grant(self, name: str, consumer: str) -> tuple[Grant, bool]: ...
    def revoke(self, name: str, consumer: str) -> None: ...
    def readable_products(self) -> list[str]: ...
    def close(self) -> None: ...


_MAPPED: list[tuple[type[CatalogError], type[RegistryError]]] = [
    (Forbidden, RegistryPermissionError),
    (Unauthenticated, RegistryPermissionError),
    (NotFound, RegistryNotFoundError),
    (Conflict, RegistryConflictError),
    (InvalidInput, RegistryInvalidError),
]


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise RegistryInvalidError(fields) from exc
    except CatalogError as exc:
        kind = next((ours for theirs, ours in _MAPPED if isinstance(exc, theirs)), RegistryError)
        raise kind(str(exc)) from exc


class CatalogProductRegistry:
    """The ProductRegistry port on any catalog handle (HTTP client or in-process service)."""

    def __init__(self, catalog: CatalogHandle) -> None:
        self._catalog = catalog

    def _do(self, call: Callable[[], T]) -> T:
        with _translated():
            return call()

    def close(self) -> None:
        """Release connections."""
        self._catalog.close()

    def register_domain(self, name: str, owner: str, contact: str | None = None) -> None:
        with _translated():
            self._catalog.put_domain(name, DomainIn(owner=owner, contact=contact))

    def register_product(self, product: ProductDescription) -> None:
        with _translated():
            spec = ProductIn.model_validate(
                {
                    "description": product.description,
                    "owner": product.owner,
                    "tags": list(product.tags),
                    "table_format": product.table_format,
                    "location": product.location,
                    "columns": [asdict(c) for c in product.columns],
                    "contract_version": product.contract_version,
                    "freshness_sla_minutes": product.freshness_sla_minutes,
                    "upstream": list(product.upstream),
                    "status": product.status,
                    "public": product.public,
                }
            )
            self._catalog.put_product(product.product, spec)

    def register_version(self, version: ProductVersion) -> bool:
        with _translated():
            spec = VersionIn(
                version=version.version,
                row_count=version.row_count,
                schema_hash=version.schema_hash,
                run_id=version.run_id,
                materialized_at=datetime.fromtimestamp(version.created_at_ms / 1000, UTC),
                extra=dict(version.extra),
            )
            _, created = self._catalog.register_version(version.product, spec)
            return created

    def record_checks(
        self, product: str, run_id: str, results: Sequence[CheckResult], refused_version: int | None = None
    ) -> None:
        with _translated():
            checks = ChecksIn.model_validate(
                {"run_id": run_id, "results": [asdict(r) for r in results], "refused_version": refused_version}
            )
            self._catalog.record_checks(product, checks)

    def discard_candidate(self, product: str, version: int) -> None:
        self._do(lambda: self._catalog.discard_candidate(product, version))

    def grant(self, product: str, consumer: str) -> None:
        self._do(lambda: self._catalog.grant(product, consumer))

    def revoke(self, product: str, consumer: str) -> None:
        with _translated():
            try:
                self._catalog.revoke(product, consumer)
            except NotFound:
                self._catalog.get_product(product, versions=1)  # re-raises when the product is missing

    def readable_products(self) -> Sequence[str]:
        return self._do(self._catalog.readable_products)


class HttpProductRegistry(CatalogProductRegistry):
    """Registers products with a catalog service over HTTP.

    Args:
        base_url: the catalog service, e.g. `http://127.0.0.1:8765` (`MESHLAKE_CATALOG_URL`).
        token: a bearer token of the domain (`MESHLAKE_CATALOG_TOKEN`).
        timeout: seconds per request.
    """

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        super().__init__(CatalogClient(base_url, token, timeout=timeout))
