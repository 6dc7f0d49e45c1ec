"""Discarded candidates: a refused candidate that maintenance discarded is no longer shown."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("check_results") as batch:
        batch.add_column(sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("check_results") as batch:
        batch.drop_column("discarded_at")
