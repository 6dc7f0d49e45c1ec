"""Refused candidates: the check results of a run that refused a candidate name its version."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("check_results") as batch:
        batch.add_column(sa.Column("refused_version", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("check_results") as batch:
        batch.drop_column("refused_version")
