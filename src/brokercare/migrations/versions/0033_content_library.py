"""Engagement: the education library's per-customer progress (``engagement_content_progress``),
and the themed communities' members and posts (``engagement_community_members``,
``engagement_community_posts``). The library and the communities themselves are data in the
package (``engagement/data/content``, ``engagement/data/communities.yaml``).

Revision ID: 0033_content_library
Revises: 0032_fund_settlement
Create Date: 2026-12-05 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033_content_library"
down_revision: str | Sequence[str] | None = "0032_fund_settlement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _customer_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                   name=op.f(f"fk_{table}_customer_id_customers"), ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "engagement_content_progress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("best_score", sa.Integer(), nullable=True),
        sa.Column("last_answers", sa.JSON(), nullable=True),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        _customer_fk("engagement_content_progress"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_content_progress")),
        sa.UniqueConstraint("customer_id", "item", name=op.f("uq_engagement_content_progress_customer_id")),
    )
    op.create_table(
        "engagement_community_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        _customer_fk("engagement_community_members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_community_members")),
        sa.UniqueConstraint("community", "customer_id", name=op.f("uq_engagement_community_members_community")),
    )
    op.create_index(op.f("ix_engagement_community_members_community"), "engagement_community_members", ["community"])
    op.create_index(op.f("ix_engagement_community_members_customer_id"), "engagement_community_members",
                    ["customer_id"])
    op.create_table(
        "engagement_community_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("held_reason", sa.Text(), nullable=True),
        sa.Column("violations", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("moderated_by", sa.Integer(), nullable=True),
        sa.Column("moderated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("moderation_note", sa.Text(), nullable=True),
        _customer_fk("engagement_community_posts"),
        sa.ForeignKeyConstraint(["parent_id"], ["engagement_community_posts.id"],
                                name=op.f("fk_engagement_community_posts_parent_id_engagement_community_posts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_community_posts")),
    )
    op.create_index("ix_engagement_community_posts_room", "engagement_community_posts",
                    ["community", "state", "created_at"])
    op.create_index(op.f("ix_engagement_community_posts_parent_id"), "engagement_community_posts", ["parent_id"])
    op.create_index(op.f("ix_engagement_community_posts_customer_id"), "engagement_community_posts",
                    ["customer_id"])


def downgrade() -> None:
    op.drop_table("engagement_community_posts")
    op.drop_table("engagement_community_members")
    op.drop_table("engagement_content_progress")
