"""Similar-case search of the hand-off summary: one row per resolved ticket with the sentence
vector of the customer's problem (float16), the encoder that made it, and the masked ticket
number, subject and resolution the summary shows.

Revision ID: 0036_case_vectors
Revises: 0035_review_samples
Create Date: 2026-12-06 02:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brokercare.core.database import UTCDateTime

revision: str = "0036_case_vectors"
down_revision: str | Sequence[str] | None = "0035_review_samples"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_case_vectors",
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("service_tickets.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("ticket_no", sa.String(24), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("encoder", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=False),
        sa.Column("indexed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_service_case_vectors_recent", "service_case_vectors", ["active", "resolved_at"])
    op.create_index("ix_service_case_vectors_indexed_at", "service_case_vectors", ["indexed_at"])


def downgrade() -> None:
    op.drop_index("ix_service_case_vectors_indexed_at", table_name="service_case_vectors")
    op.drop_index("ix_service_case_vectors_recent", table_name="service_case_vectors")
    op.drop_table("service_case_vectors")
