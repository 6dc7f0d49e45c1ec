"""Queries of the catalog store: load, search and convert rows to the catalog's value types."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BindParameter, ColumnElement, Select, and_, bindparam, exists, func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from catalog.model import (
    Candidate,
    CheckResult,
    Column,
    Domain,
    Principal,
    PrincipalKind,
    Product,
    ProductStatus,
    ProductSummary,
    Severity,
    Version,
    as_utc,
    freshness,
    quality,
)
from catalog.store.tables import (
    CheckResultRow,
    ColumnRow,
    DomainRow,
    GrantRow,
    LineageRow,
    ProductRow,
    TagRow,
    TokenRow,
    VersionRow,
)


def domain(session: Session, name: str) -> DomainRow | None:
    """The domain called `name`, if registered."""
    return session.scalars(select(DomainRow).where(DomainRow.name == name)).one_or_none()


def product(session: Session, name: str, lock: bool = False) -> ProductRow | None:
    """The product called `<domain>.<product>`; `lock` takes a row lock (serialises version numbering)."""
    query = select(ProductRow).where(ProductRow.name == name)
    if lock:
        query = query.with_for_update(of=ProductRow)
    return session.scalars(query).one_or_none()


def is_granted(session: Session, product_id: int, consumer: str) -> bool:
    """Has `consumer` a grant on the product?"""
    query = select(GrantRow.id).where(GrantRow.product_id == product_id, GrantRow.consumer == consumer)
    return session.scalar(query) is not None


def readable_clause(who: Principal) -> ColumnElement[bool]:
    """SQL condition on `ProductRow`: the principal may read the product."""
    return _readable(who.kind, who.name)


def _readable(kind: PrincipalKind, name: str | BindParameter[str]) -> ColumnElement[bool]:
    if kind == PrincipalKind.ADMIN:
        return ProductRow.id.is_not(None)
    granted = exists().where(GrantRow.product_id == ProductRow.id, GrantRow.consumer == name)
    conditions: list[ColumnElement[bool]] = [ProductRow.public.is_(True), granted]
    if kind == PrincipalKind.DOMAIN:
        conditions.append(DomainRow.name == name)
    return or_(*conditions)


LIVE_TOKEN = select(TokenRow.principal, TokenRow.kind).where(
    TokenRow.token_hash == bindparam("token_hash"), TokenRow.revoked_at.is_(None)
)
"""The principal and kind of the token with hash `token_hash`, unless it is revoked (for `CompiledReads`)."""
READABLE_NAMES = {
    kind: select(ProductRow.name)
    .join(ProductRow.domain)
    .where(_readable(kind, bindparam("principal")))
    .order_by(ProductRow.name)
    for kind in PrincipalKind
}
"""By principal kind: the names of the products `principal` may read, sorted (for `CompiledReads`)."""


def search(
    session: Session,
    who: Principal,
    *,
    text: str | None = None,
    domain_name: str | None = None,
    tag: str | None = None,
    owner: str | None = None,
    column: str | None = None,
    status: ProductStatus | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ProductRow]:
    """Products the principal may read that match every given filter, by name."""
    query: Select[ProductRow] = (
        select(ProductRow).join(ProductRow.domain).where(readable_clause(who)).order_by(ProductRow.name)
    )
    if domain_name:
        query = query.where(DomainRow.name == domain_name)
    if tag:
        query = query.where(exists().where(TagRow.product_id == ProductRow.id, TagRow.tag == tag.lower()))
    if owner:
        query = query.where(func.lower(ProductRow.owner).contains(owner.lower(), autoescape=True))
    if column:
        match = func.lower(ColumnRow.name).contains(column.lower(), autoescape=True)
        query = query.where(exists().where(ColumnRow.product_id == ProductRow.id, match))
    if status:
        query = query.where(ProductRow.status == status.value)
    if text:
        needle = text.lower()

        def like(col: QueryableAttribute[str]) -> ColumnElement[bool]:
            return func.lower(col).contains(needle, autoescape=True)

        in_column = or_(like(ColumnRow.name), like(ColumnRow.doc))
        query = query.where(
            or_(
                like(ProductRow.name),
                like(ProductRow.description),
                like(ProductRow.owner),
                exists().where(TagRow.product_id == ProductRow.id, like(TagRow.tag)),
                exists().where(ColumnRow.product_id == ProductRow.id, in_column),
            )
        )
    return list(session.scalars(query.limit(limit).offset(offset)))


def version_model(row: VersionRow) -> Version:
    """A version row as a value."""
    return Version(
        seq=row.seq,
        version=row.version,
        row_count=row.row_count,
        schema_hash=row.schema_hash,
        run_id=row.run_id,
        materialized_at=as_utc(row.materialized_at),
        registered_at=as_utc(row.registered_at),
        registered_by=row.registered_by,
        extra=row.extra,
    )


def versions(session: Session, product_id: int, limit: int = 50, offset: int = 0) -> list[Version]:
    """A product's versions, newest first (by materialisation time, then registration order)."""
    query = (
        select(VersionRow)
        .where(VersionRow.product_id == product_id)
        .order_by(VersionRow.materialized_at.desc(), VersionRow.seq.desc())
        .limit(limit)
        .offset(offset)
    )
    return [version_model(row) for row in session.scalars(query)]


def latest_versions(session: Session, product_ids: Sequence[int]) -> dict[int, Version]:
    """The newest version of each product that has one."""
    order = (VersionRow.materialized_at.desc(), VersionRow.seq.desc())
    rank = func.row_number().over(partition_by=VersionRow.product_id, order_by=order).label("rank")
    ranked = select(VersionRow.id, rank).where(VersionRow.product_id.in_(product_ids)).subquery()
    rows = session.scalars(select(VersionRow).join(ranked, and_(ranked.c.id == VersionRow.id, ranked.c.rank == 1)))
    return {row.product_id: version_model(row) for row in rows}


def latest_checks(session: Session, product_ids: Sequence[int]) -> dict[int, list[CheckResult]]:
    """The latest result of every check of each product."""
    newest = (
        select(func.max(CheckResultRow.id))
        .where(CheckResultRow.product_id.in_(product_ids))
        .group_by(CheckResultRow.product_id, CheckResultRow.check)
    )
    query = select(CheckResultRow).where(CheckResultRow.id.in_(newest)).order_by(CheckResultRow.check)
    found: dict[int, list[CheckResult]] = {}
    for row in session.scalars(query):
        found.setdefault(row.product_id, []).append(
            CheckResult(
                check=row.check,
                passed=row.passed,
                severity=Severity(row.severity),
                message=row.message,
                run_id=row.run_id,
                checked_at=as_utc(row.checked_at),
            )
        )
    return found


def refused_candidate(session: Session, row: ProductRow) -> Candidate | None:
    """The candidate the product's latest check run refused, or None (that run published, none ran, or
    maintenance discarded the candidate since)."""
    latest = session.scalars(
        select(CheckResultRow).where(CheckResultRow.product_id == row.id).order_by(CheckResultRow.id.desc()).limit(1)
    ).one_or_none()
    if latest is None or latest.refused_version is None or latest.discarded_at is not None:
        return None
    run = select(CheckResultRow).where(
        CheckResultRow.product_id == row.id,
        CheckResultRow.run_id == latest.run_id,
        CheckResultRow.checked_at == latest.checked_at,
    )
    failing = sorted(r.check for r in session.scalars(run) if not r.passed and r.severity == Severity.ERROR)
    return Candidate(
        product=row.name,
        version=latest.refused_version,
        run_id=latest.run_id,
        refused_at=as_utc(latest.checked_at),
        failing=failing,
    )


def summaries(session: Session, rows: Sequence[ProductRow], now: datetime) -> list[ProductSummary]:
    """List entries for product rows, with freshness, quality and latest version."""
    ids = [row.id for row in rows]
    latest = latest_versions(session, ids) if ids else {}
    checks = latest_checks(session, ids) if ids else {}
    return [_summary(row, latest.get(row.id), checks.get(row.id, []), now) for row in rows]


def _summary(row: ProductRow, latest: Version | None, checks: list[CheckResult], now: datetime) -> ProductSummary:
    return ProductSummary(
        name=row.name,
        domain=row.domain.name,
        description=row.description,
        owner=row.owner,
        tags=sorted(t.tag for t in row.tags),
        table_format=row.table_format,
        status=ProductStatus(row.status),
        public=row.public,
        freshness=freshness(row.freshness_sla_minutes, latest.materialized_at if latest else None, now),
        quality=quality(checks),
        latest_version=latest,
    )


def detail(session: Session, row: ProductRow, now: datetime, who: Principal, versions_limit: int = 20) -> Product:
    """Everything known about one product.

    Downstream products are listed in full for the product's own domain (impact analysis), otherwise
    only those `who` may read.
    """
    recent = versions(session, row.id, limit=versions_limit)
    checks = latest_checks(session, [row.id]).get(row.id, [])
    summary = _summary(row, recent[0] if recent else None, checks, now)
    downstream_query = (
        select(ProductRow.name)
        .join(LineageRow, LineageRow.product_id == ProductRow.id)
        .join(ProductRow.domain)
        .where(LineageRow.upstream == row.name)
        .order_by(ProductRow.name)
    )
    if not (who.kind == PrincipalKind.DOMAIN and who.name == row.domain.name):
        downstream_query = downstream_query.where(readable_clause(who))
    return Product(
        **summary.model_dump(),
        location=row.location,
        columns=[Column(name=c.name, type=c.type, doc=c.doc, pii=c.pii, nullable=c.nullable) for c in row.columns],
        schema_hash=row.schema_hash,
        contract_version=row.contract_version,
        freshness_sla_minutes=row.freshness_sla_minutes,
        upstream=sorted(u.upstream for u in row.upstream),
        downstream=list(session.scalars(downstream_query)),
        versions=recent,
        version_count=row.version_count,
        checks=checks,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def domain_model(row: DomainRow) -> Domain:
    """A domain row as a value."""
    return Domain(name=row.name, owner=row.owner, contact=row.contact)
