"""The assistant's labelled pool: sentences the service desk taught it (wrong-intent marks, edited
suggestions, hand-offs without a knowledge-base answer, low CSAT), for `brokercare nlu retrain`
and the FAQ-gap list.

Revision ID: 0034_nlu_feedback_pool
Revises: 0033_content_library
Create Date: 2026-12-06 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brokercare.core.database import UTCDateTime

revision: str = "0034_nlu_feedback_pool"
down_revision: str | Sequence[str] | None = "0033_content_library"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assistant_nlu_feedback",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("label", sa.String(40), nullable=True),
        sa.Column("proposed_label", sa.String(40), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("labelled_by_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("suggested_reply", sa.Text(), nullable=True),
        sa.Column("sent_reply", sa.Text(), nullable=True),
        sa.Column("csat_score", sa.Integer(), nullable=True),
        sa.Column("dedupe_key", sa.String(120), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("labelled_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_assistant_nlu_feedback_source", "assistant_nlu_feedback", ["source"])
    op.create_index("ix_assistant_nlu_feedback_created_at", "assistant_nlu_feedback", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_assistant_nlu_feedback_created_at", "assistant_nlu_feedback")
    op.drop_index("ix_assistant_nlu_feedback_source", "assistant_nlu_feedback")
    op.drop_table("assistant_nlu_feedback")
