"""The catalog's value types: domains, products, columns, versions, checks, grants and principals."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from catalog.principal_kind import PrincipalKind as PrincipalKind  # one of the model's value types

IDENT_PATTERN = r"^[a-z][a-z0-9_]*$"
PRODUCT_PATTERN = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"
MAX_BIGINT = 2**63 - 1
_PRODUCT_RE = re.compile(PRODUCT_PATTERN)


def _storable(value: str) -> str:
    """Refuse text that a database cannot store (NUL, lone surrogates)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid UTF-8 text") from exc
    return value


Ident = Annotated[str, StringConstraints(pattern=IDENT_PATTERN, min_length=1, max_length=63)]
ProductName = Annotated[str, StringConstraints(pattern=PRODUCT_PATTERN, min_length=3, max_length=127)]
Text = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_storable)]
ShortText = Annotated[str, StringConstraints(max_length=400), AfterValidator(_storable)]
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_:.-]*$", min_length=1, max_length=63)]
BigCount = Annotated[int, Field(ge=0, le=MAX_BIGINT)]


def parse_product(name: str) -> tuple[str, str]:
    """Split `<domain>.<product>` into its two identifiers.

    Raises:
        ValueError: `name` is not two dot-separated lower-case identifiers.
    """
    if not _PRODUCT_RE.match(name) or len(name) > 127:
        raise ValueError(f"product {name!r} must look like <domain>.<product> (lower-case identifiers)")
    domain, _, product = name.partition(".")
    return domain, product


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Attach UTC to a naive datetime (SQLite drops the zone) or convert an aware one."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Principal(BaseModel):
    """Who is calling: `name` is a domain name for domain teams."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: PrincipalKind


class ProductStatus(StrEnum):
    """Lifecycle of a data product (ODCS status values)."""

    DRAFT = "draft"
    ACTIVE = "active"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


class Freshness(StrEnum):
    """Is the latest version within the product's freshness SLA?"""

    FRESH = "fresh"
    STALE = "stale"
    UNKNOWN = "unknown"


class Quality(StrEnum):
    """Summary of the latest result of every check of a product."""

    PASSING = "passing"
    WARNING = "warning"
    FAILING = "failing"
    UNKNOWN = "unknown"


class Severity(StrEnum):
    """How much a failed check matters."""

    WARN = "warn"
    ERROR = "error"


class DomainIn(_Input):
    """Register or update a domain."""

    owner: ShortText = Field(min_length=1, description="Owning team")
    contact: ShortText | None = Field(default=None, description="E-mail, chat channel or URL")


class Domain(DomainIn):
    """A registered domain."""

    name: str


class Column(_Input):
    """One column of a product's schema (from the .proto: type, comment, PII option)."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=127)]
    type: Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_storable)]
    doc: Text = ""
    pii: bool = False
    nullable: bool = True


class ProductIn(_Input):
    """Create or update a data product's description."""

    description: Text = ""
    owner: ShortText | None = Field(default=None, description="Owning team; defaults to the domain's owner")
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    table_format: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)] = "iceberg"
    location: ShortText = ""
    columns: list[Column] = Field(default_factory=list, max_length=1000)
    contract_version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$", max_length=32)] = "1.0.0"
    freshness_sla_minutes: int | None = Field(default=None, ge=1, le=525_600)
    upstream: list[ProductName] = Field(default_factory=list, max_length=100)
    status: ProductStatus = ProductStatus.ACTIVE
    public: bool = False

    @field_validator("columns")
    @classmethod
    def _unique_columns(cls, columns: list[Column]) -> list[Column]:
        names = [c.name for c in columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate column name(s) {', '.join(duplicates)}")
        return columns

    @field_validator("tags")
    @classmethod
    def _sorted_tags(cls, tags: list[str]) -> list[str]:
        return sorted(set(tags))


def schema_hash(columns: list[Column]) -> str:
    """A stable hash of the column names, types and nullability (docs and PII flags excluded)."""
    canonical = json.dumps([[c.name, c.type, c.nullable] for c in columns], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class VersionIn(_Input):
    """One gold materialisation to register."""

    version: BigCount = Field(description="Iceberg snapshot id or Delta version")
    row_count: BigCount
    schema_hash: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_:-]{1,128}$")]
    run_id: Annotated[str, StringConstraints(max_length=128), AfterValidator(_storable)] = ""
    materialized_at: datetime | None = Field(default=None, description="Defaults to the time of registration")
    extra: dict[str, str | int | float | bool | None] = Field(default_factory=dict, max_length=100)

    @field_validator("materialized_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        """Store UTC (a naive time is taken as UTC) so versions order correctly on every database."""
        return None if value is None else as_utc(value)


class Version(BaseModel):
    """A registered version; `seq` numbers a product's versions in registration order from 1."""

    seq: int
    version: int
    row_count: int
    schema_hash: str
    run_id: str
    materialized_at: datetime
    registered_at: datetime
    registered_by: str
    extra: dict[str, Any] = Field(default_factory=dict)


class CheckResultIn(_Input):
    """The result of one asset check on a product."""

    check: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,127}$")]
    passed: bool
    severity: Severity = Severity.ERROR
    message: Text = ""


class ChecksIn(_Input):
    """Results of one check run."""

    run_id: Annotated[str, StringConstraints(max_length=128), AfterValidator(_storable)] = ""
    results: list[CheckResultIn] = Field(min_length=1, max_length=500)
    refused_version: BigCount | None = Field(
        default=None, description="The candidate version these results refused (kept from readers); None: published"
    )


class CheckResult(CheckResultIn):
    """A stored check result."""

    run_id: str
    checked_at: datetime


class Candidate(BaseModel):
    """A version of a product its latest build wrote but its error checks refused: readers do not see it.

    Shown to the owning domain and admins until a later build's results come without a refusal, or
    maintenance discards it (`CatalogService.discard_candidate`).
    """

    product: str
    version: int
    run_id: str
    refused_at: datetime
    failing: list[str] = Field(description="The error-severity checks that failed")


class Grant(BaseModel):
    """`consumer` may read `product`."""

    product: str
    consumer: str
    granted_by: str
    granted_at: datetime


class ProductSummary(BaseModel):
    """A product as listed and searched."""

    name: str
    domain: str
    description: str
    owner: str
    tags: list[str]
    table_format: str
    status: ProductStatus
    public: bool
    freshness: Freshness
    quality: Quality
    latest_version: Version | None


class Product(ProductSummary):
    """A product with everything the catalog knows about it."""

    location: str
    columns: list[Column]
    schema_hash: str
    contract_version: str
    freshness_sla_minutes: int | None
    upstream: list[str]
    downstream: list[str]
    versions: list[Version]
    version_count: int
    checks: list[CheckResult]
    created_at: datetime
    updated_at: datetime


class AuditEntry(BaseModel):
    """One write: who did what to which subject, and when."""

    at: datetime
    principal: str
    action: str
    subject: str
    detail: dict[str, Any]


class TokenInfo(BaseModel):
    """A token as listed (never the secret)."""

    id: int
    principal: str
    kind: PrincipalKind
    created_at: datetime
    revoked: bool


def freshness(sla_minutes: int | None, latest: datetime | None, now: datetime | None = None) -> Freshness:
    """`fresh` when the latest version is younger than the SLA, `stale` when older, else `unknown`."""
    if sla_minutes is None or latest is None:
        return Freshness.UNKNOWN
    age = (now or utcnow()) - as_utc(latest)
    return Freshness.FRESH if age <= timedelta(minutes=sla_minutes) else Freshness.STALE


def quality(latest_results: list[CheckResult]) -> Quality:
    """`failing` if an error check failed, `warning` if only warn checks failed, else `passing`."""
    if not latest_results:
        return Quality.UNKNOWN
    failed = [r for r in latest_results if not r.passed]
    if any(r.severity == Severity.ERROR for r in failed):
        return Quality.FAILING
    return Quality.WARNING if failed else Quality.PASSING
