"""Quality review samples: the closed conversations a team lead drew for review, kept until
reviewed, so the lead may open those threads (and only those) on the workbench; and each review
counted in the month of its conversation (a lead reviews November's conversations in December).

Revision ID: 0035_review_samples
Revises: 0034_nlu_feedback_pool
Create Date: 2026-12-05 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brokercare.core.database import UTCDateTime

revision: str = "0035_review_samples"
down_revision: str | Sequence[str] | None = "0034_nlu_feedback_pool"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quality_review_samples",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("drawn_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("conversation_id"),
    )
    op.create_index("ix_quality_review_samples_lead", "quality_review_samples", ["lead_id", "customer_id"])
    op.add_column("quality_reviews", sa.Column("conversation_started_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("quality_reviews", "conversation_started_at")
    op.drop_index("ix_quality_review_samples_lead", table_name="quality_review_samples")
    op.drop_table("quality_review_samples")
