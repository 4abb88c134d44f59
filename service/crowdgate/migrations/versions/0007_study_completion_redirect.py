"""studies: the platform's completion code and where finished participants are sent

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("platform_completion_code", sa.String(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("completion_redirect_url", sa.String(length=2000), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_column("completion_redirect_url")
        batch_op.drop_column("platform_completion_code")
