"""Assistant: the knowledge base entries a broker imports (``brokercare kb import``).

Revision ID: 0008_assistant_kb
Revises: 0007_service
Create Date: 2026-11-28 00:12:14.027925
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brokercare.core.database

revision: str = "0008_assistant_kb"
down_revision: str | Sequence[str] | None = "0007_service"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kb_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=500), nullable=False),
        sa.Column("question_key", sa.String(length=500), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", brokercare.core.database.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", brokercare.core.database.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_entries")),
        sa.UniqueConstraint("question_key", name=op.f("uq_kb_entries_question_key")),
    )
    with op.batch_alter_table("kb_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_entries_intent"), ["intent"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kb_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_entries_intent"))

    op.drop_table("kb_entries")
