"""exclusion groups: named worker sets, their members by source, and how studies use them

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exclusion_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("record_when", sa.String(length=20), nullable=False),
        sa.Column("binding_platform", sa.String(length=20), nullable=True),
        sa.Column("binding_mode", sa.String(length=10), nullable=True),
        sa.Column("binding_ref", sa.String(length=128), nullable=True),
        sa.Column("binding_name", sa.String(length=200), nullable=True),
        sa.Column("sync_job_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exclusion_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_exclusion_groups_name")),
    )
    op.create_table(
        "exclusion_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["exclusion_groups.id"],
            name=op.f("fk_exclusion_members_group_id_exclusion_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_exclusion_members_study_id_studies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exclusion_members")),
        sa.UniqueConstraint(
            "group_id",
            "worker_id",
            "source",
            name=op.f("uq_exclusion_members_group_id_worker_id_source"),
        ),
    )
    with op.batch_alter_table("exclusion_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exclusion_members_group_source", ["group_id", "source"], unique=False
        )
        batch_op.create_index(
            "ix_exclusion_members_worker", ["worker_id", "group_id", "study_id"], unique=False
        )
    op.create_table(
        "study_groups",
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["exclusion_groups.id"],
            name=op.f("fk_study_groups_group_id_exclusion_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_study_groups_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("study_id", "role", "group_id", name=op.f("pk_study_groups")),
    )
    with op.batch_alter_table("study_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_study_groups_group_id"), ["group_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("study_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_groups_group_id"))
    op.drop_table("study_groups")
    with op.batch_alter_table("exclusion_members", schema=None) as batch_op:
        batch_op.drop_index("ix_exclusion_members_worker")
        batch_op.drop_index("ix_exclusion_members_group_source")
    op.drop_table("exclusion_members")
    op.drop_table("exclusion_groups")
