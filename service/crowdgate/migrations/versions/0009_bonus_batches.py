"""bonuses: the platform's batch a bonus is paid in, and when its pay was asked for

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bonuses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("pay_requested_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("bonuses", schema=None) as batch_op:
        batch_op.drop_column("pay_requested_at")
        batch_op.drop_column("batch_id")
