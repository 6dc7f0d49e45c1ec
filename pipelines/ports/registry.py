"""The ProductRegistry port: how pipelines tell the catalog about data products and their versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable


class RegistryError(Exception):
    """The catalog refused a registration; the message says why (and names the field)."""


class RegistryPermissionError(RegistryError, PermissionError):
    """The registry's principal may not do this (e.g. write another domain's product)."""


class RegistryNotFoundError(RegistryError, LookupError):
    """The domain or product is not registered."""


class RegistryInvalidError(RegistryError, ValueError):
    """The catalog rejected the content of a registration; the message names the field."""


class RegistryConflictError(RegistryError):
    """The version is already registered with a different row count or schema hash."""


@dataclass(frozen=True)
class ProductColumn:
    """One column of a product's schema: Arrow type name, doc from the .proto comment, PII option."""

    name: str
    type: str
    doc: str = ""
    pii: bool = False
    nullable: bool = True


@dataclass(frozen=True)
class ProductDescription:
    """What the catalog records about a gold product; registered (idempotently) at every materialisation."""

    product: str  # "<domain>.<product>"
    description: str
    columns: Sequence[ProductColumn]
    table_format: str  # "iceberg" | "delta"
    location: str  # table URI
    owner: str | None = None  # defaults to the domain's owner
    tags: Sequence[str] = ()
    upstream: Sequence[str] = ()  # "<domain>.<product>" this one reads (lineage)
    contract_version: str = "1.0.0"
    freshness_sla_minutes: int | None = None
    status: Literal["draft", "active", "deprecated", "retired"] = "active"
    public: bool = False


@dataclass(frozen=True)
class ProductVersion:
    """One materialisation of a gold data product."""

    product: str  # "<domain>.<product>"
    version: int  # Iceberg snapshot id or Delta version
    row_count: int
    schema_hash: str
    run_id: str
    created_at_ms: int  # when the materialisation committed (epoch ms)
    extra: Mapping[str, str | int | float | bool | None] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """The result of one asset check of a product."""

    check: str
    passed: bool
    severity: Literal["warn", "error"] = "error"
    message: str = ""


@runtime_checkable
class ProductRegistry(Protocol):
    """The catalog as seen by one principal (a domain team).

    Every method is idempotent: calling it again with the same arguments changes nothing. Errors are
    `RegistryError`s: permission, not found, conflict, or invalid input (the message names the field).
    """

    def register_domain(self, name: str, owner: str, contact: str | None = None) -> None:
        """Create or update a domain (the registry's principal must be that domain, or an admin)."""
        ...

    def register_product(self, product: ProductDescription) -> None:
        """Create or update a product's description (owner, schema, contract, SLA, lineage...)."""
        ...

    def register_version(self, version: ProductVersion) -> bool:
        """Record a version; returns False when it was already recorded (nothing changed)."""
        ...

    def record_checks(
        self, product: str, run_id: str, results: Sequence[CheckResult], refused_version: int | None = None
    ) -> None:
        """Record asset-check results; the catalog's quality status follows the latest ones.

        `refused_version`: the candidate version the results refused (write-audit-publish), which the
        catalog shows the owning domain until a later run's results come without one, or until
        `discard_candidate` says maintenance discarded it.
        """
        ...

    def discard_candidate(self, product: str, version: int) -> None:
        """Tell the catalog that maintenance discarded the refused candidate `version` (`Expiry.candidate_discarded`):
        it stops showing it. No error when the catalog shows another one, or none."""
        ...

    def grant(self, product: str, consumer: str) -> None:
        """Let domain `consumer` read `product`."""
        ...

    def revoke(self, product: str, consumer: str) -> None:
        """Withdraw `consumer`'s grant on `product` (no error when there was none)."""
        ...

    def readable_products(self) -> Sequence[str]:
        """The products this registry's principal may read (public, its own, and granted)."""
        ...
