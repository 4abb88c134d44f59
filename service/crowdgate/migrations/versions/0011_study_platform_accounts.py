"""studies: a study's own platform token (sealed) and workspace

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform_token_sealed", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("platform_workspace_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_column("platform_workspace_id")
        batch_op.drop_column("platform_token_sealed")
