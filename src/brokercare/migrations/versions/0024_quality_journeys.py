"""Quality: ``quality_journey_steps``, the customer-journey steps behind the funnels, and
``quality_reviews``, team leads' reviews of sampled conversations (agents' scorecards).

Revision ID: 0024_quality_journeys
Revises: 0023_engagement_leads
Create Date: 2026-12-05 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brokercare.core.database import UTCDateTime

revision: str = "0024_quality_journeys"
down_revision: str | Sequence[str] | None = "0023_engagement_leads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quality_journey_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey", sa.String(length=24), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("step_no", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=12), nullable=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_journey_steps")),
        sa.UniqueConstraint("journey", "ref", "step", name=op.f("uq_quality_journey_steps_journey")),
    )
    op.create_index("ix_quality_journey_steps_time", "quality_journey_steps", ["journey", "occurred_at"])
    op.create_table(
        "quality_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_reviews")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_quality_reviews_conversation_id")),
    )
    op.create_index(op.f("ix_quality_reviews_agent_id"), "quality_reviews", ["agent_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_quality_reviews_agent_id"), table_name="quality_reviews")
    op.drop_table("quality_reviews")
    op.drop_index("ix_quality_journey_steps_time", table_name="quality_journey_steps")
    op.drop_table("quality_journey_steps")
