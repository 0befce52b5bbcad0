"""Quality: ``quality_book_snapshots``, each customer's net assets and manager at month-end (the
managers' scorecards), and ``quality_churn_scores``, the nightly churn risk with its reasons.

Revision ID: 0028_quality_churn
Revises: 0027_desk_presence
Create Date: 2026-12-05 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brokercare.core.database import UTCDateTime

revision: str = "0028_quality_churn"
down_revision: str | Sequence[str] | None = "0027_desk_presence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quality_book_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("manager_id", sa.Integer(), nullable=True),
        sa.Column("net_assets", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_book_snapshots")),
        sa.UniqueConstraint("day", "customer_id", name=op.f("uq_quality_book_snapshots_day")),
    )
    op.create_index("ix_quality_book_snapshots_manager", "quality_book_snapshots", ["day", "manager_id"])
    op.create_table(
        "quality_churn_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scored_on", sa.Date(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("manager_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("top_share", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("model_trained_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_churn_scores")),
        sa.UniqueConstraint("scored_on", "customer_id", name=op.f("uq_quality_churn_scores_scored_on")),
    )
    op.create_index("ix_quality_churn_scores_manager", "quality_churn_scores", ["scored_on", "manager_id", "score"])


def downgrade() -> None:
    op.drop_index("ix_quality_churn_scores_manager", table_name="quality_churn_scores")
    op.drop_table("quality_churn_scores")
    op.drop_index("ix_quality_book_snapshots_manager", table_name="quality_book_snapshots")
    op.drop_table("quality_book_snapshots")
