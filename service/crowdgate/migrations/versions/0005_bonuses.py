"""bonuses: the bonus ledger, and a study's cap per worker and budget

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("bonus_cap_per_worker", sa.Numeric(precision=12, scale=2), nullable=True)
        )
        batch_op.add_column(
            sa.Column("bonus_budget", sa.Numeric(precision=12, scale=2), nullable=True)
        )
    op.create_table(
        "bonuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=128), nullable=False),
        sa.Column("assignment_id", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "platform_response",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_bonuses_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_bonuses_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bonuses")),
        sa.UniqueConstraint(
            "study_id",
            "worker_id",
            "assignment_id",
            "key",
            name=op.f("uq_bonuses_study_id_worker_id_assignment_id_key"),
        ),
    )
    with op.batch_alter_table("bonuses", schema=None) as batch_op:
        batch_op.create_index("ix_bonuses_job_state", ["job_id", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bonuses", schema=None) as batch_op:
        batch_op.drop_index("ix_bonuses_job_state")
    op.drop_table("bonuses")
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_column("bonus_budget")
        batch_op.drop_column("bonus_cap_per_worker")
