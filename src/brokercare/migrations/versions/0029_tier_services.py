"""Engagement: tier services and watches — the specialists a VIP's 1+N team is drawn from
(``engagement_specialists``), each VIP's team (``engagement_team_members``) and the nightly
verdicts on goals, packages and valuations that tell the customer and the manager once
(``engagement_watches``).

Revision ID: 0029_tier_services
Revises: 0028_quality_churn
Create Date: 2026-12-05 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_tier_services"
down_revision: str | Sequence[str] | None = "0028_quality_churn"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _customer_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                   name=op.f(f"fk_{table}_customer_id_customers"), ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "engagement_specialists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("skill", sa.String(length=24), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_specialists")),
        sa.UniqueConstraint("user_id", "skill", name=op.f("uq_engagement_specialists_user_id")),
    )
    op.create_index(op.f("ix_engagement_specialists_user_id"), "engagement_specialists", ["user_id"])
    op.create_table(
        "engagement_team_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("skill", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("assigned_on", sa.Date(), nullable=False),
        _customer_fk("engagement_team_members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_team_members")),
        sa.UniqueConstraint("customer_id", "skill", name=op.f("uq_engagement_team_members_customer_id")),
    )
    op.create_index(op.f("ix_engagement_team_members_user_id"), "engagement_team_members", ["user_id"])
    op.create_table(
        "engagement_watches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("bad", sa.Boolean(), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=False),
        _customer_fk("engagement_watches"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_watches")),
        sa.UniqueConstraint("key", name=op.f("uq_engagement_watches_key")),
    )
    op.create_index(op.f("ix_engagement_watches_customer_id"), "engagement_watches", ["customer_id"])


def downgrade() -> None:
    op.drop_table("engagement_watches")
    op.drop_table("engagement_team_members")
    op.drop_table("engagement_specialists")
