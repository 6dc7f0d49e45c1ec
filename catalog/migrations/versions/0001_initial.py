"""Initial catalog schema: domains, products, columns, tags, lineage, versions, grants, tokens, audit."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _child(name: str, *columns: sa.Column[Any] | sa.Constraint, unique: tuple[str, ...] = ()) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        *columns,
        *([sa.UniqueConstraint("product_id", *unique)] if unique else []),
    )
    op.create_index(f"ix_{name}_product_id", name, ["product_id"])


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("owner", sa.String(400), nullable=False),
        sa.Column("contact", sa.String(400), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("domain_id", sa.Integer(), sa.ForeignKey("domains.id"), nullable=False),
        sa.Column("name", sa.String(127), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(400), nullable=False),
        sa.Column("table_format", sa.String(32), nullable=False),
        sa.Column("location", sa.String(400), nullable=False),
        sa.Column("schema_hash", sa.String(128), nullable=False),
        sa.Column("contract_version", sa.String(32), nullable=False),
        sa.Column("freshness_sla_minutes", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("version_count", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_products_domain_id", "products", ["domain_id"])
    _child(
        "product_columns",
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(127), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.Column("pii", sa.Boolean(), nullable=False),
        sa.Column("nullable", sa.Boolean(), nullable=False),
        unique=("name",),
    )
    _child("product_tags", sa.Column("tag", sa.String(63), nullable=False), unique=("tag",))
    op.create_index("ix_product_tags_tag", "product_tags", ["tag"])
    _child("product_lineage", sa.Column("upstream", sa.String(127), nullable=False), unique=("upstream",))
    op.create_index("ix_product_lineage_upstream", "product_lineage", ["upstream"])
    _child(
        "product_versions",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("schema_hash", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("materialized_at", TS, nullable=False),
        sa.Column("registered_at", TS, nullable=False),
        sa.Column("registered_by", sa.String(63), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.UniqueConstraint("product_id", "seq"),
        unique=("version",),
    )
    _child(
        "grants",
        sa.Column("consumer", sa.String(63), nullable=False),
        sa.Column("granted_by", sa.String(63), nullable=False),
        sa.Column("granted_at", TS, nullable=False),
        unique=("consumer",),
    )
    op.create_index("ix_grants_consumer", "grants", ["consumer"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("principal", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("principal", sa.String(63), nullable=False),
        sa.Column("action", sa.String(63), nullable=False),
        sa.Column("subject", sa.String(127), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])


def downgrade() -> None:
    for table in (
        "audit_log", "tokens", "grants", "product_versions", "product_lineage", "product_tags",
        "product_columns", "products", "domains",
    ):  # fmt: skip
        op.drop_table(table)
