"""SQLAlchemy tables of the catalog store; Alembic migrations create and evolve them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

TS = DateTime(timezone=True)


class Base(DeclarativeBase):
    """Declarative base of the catalog tables."""


class DomainRow(Base):
    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    owner: Mapped[str] = mapped_column(String(400))
    contact: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)


class ProductRow(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id"), index=True)
    name: Mapped[str] = mapped_column(String(127), unique=True)
    description: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(400))
    table_format: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(400))
    schema_hash: Mapped[str] = mapped_column(String(128))
    contract_version: Mapped[str] = mapped_column(String(32))
    freshness_sla_minutes: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16))
    public: Mapped[bool] = mapped_column(Boolean)
    version_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)

    domain: Mapped[DomainRow] = relationship(lazy="joined", innerjoin=True)
    columns: Mapped[list[ColumnRow]] = relationship(
        order_by="ColumnRow.position", cascade="all, delete-orphan", lazy="selectin"
    )
    tags: Mapped[list[TagRow]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    upstream: Mapped[list[LineageRow]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class ColumnRow(Base):
    __tablename__ = "product_columns"
    __table_args__ = (UniqueConstraint("product_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(127))
    type: Mapped[str] = mapped_column(String(200))
    doc: Mapped[str] = mapped_column(Text)
    pii: Mapped[bool] = mapped_column(Boolean)
    nullable: Mapped[bool] = mapped_column(Boolean)


class TagRow(Base):
    __tablename__ = "product_tags"
    __table_args__ = (UniqueConstraint("product_id", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(63), index=True)


class LineageRow(Base):
    __tablename__ = "product_lineage"
    __table_args__ = (UniqueConstraint("product_id", "upstream"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    upstream: Mapped[str] = mapped_column(String(127), index=True)


class VersionRow(Base):
    __tablename__ = "product_versions"
    __table_args__ = (
        UniqueConstraint("product_id", "version"),
        UniqueConstraint("product_id", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    version: Mapped[int] = mapped_column(BigInteger)
    row_count: Mapped[int] = mapped_column(BigInteger)
    schema_hash: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str] = mapped_column(String(128))
    materialized_at: Mapped[datetime] = mapped_column(TS)
    registered_at: Mapped[datetime] = mapped_column(TS)
    registered_by: Mapped[str] = mapped_column(String(63))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)


class GrantRow(Base):
    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("product_id", "consumer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    consumer: Mapped[str] = mapped_column(String(63), index=True)
    granted_by: Mapped[str] = mapped_column(String(63))
    granted_at: Mapped[datetime] = mapped_column(TS)


class CheckResultRow(Base):
    __tablename__ = "check_results"
    __table_args__ = (Index("ix_check_results_product_check", "product_id", "check", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    check: Mapped[str] = mapped_column(String(127))
    passed: Mapped[bool] = mapped_column(Boolean)
    severity: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str] = mapped_column(String(128))
    checked_at: Mapped[datetime] = mapped_column(TS)
    refused_version: Mapped[int | None] = mapped_column(BigInteger)
    """Set on every result of a run that refused a candidate: that candidate's version."""
    discarded_at: Mapped[datetime | None] = mapped_column(TS)
    """When maintenance discarded the candidate `refused_version` names (the catalog no longer shows it)."""


class TokenRow(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    principal: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(TS)
    revoked_at: Mapped[datetime | None] = mapped_column(TS)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(TS, index=True)
    principal: Mapped[str] = mapped_column(String(63))
    action: Mapped[str] = mapped_column(String(63))
    subject: Mapped[str] = mapped_column(String(127), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
