"""Service desk: agents' presence (the last heartbeat of their workbench) and call-backs promised
to customers who asked for a person while the desk was closed.

Revision ID: 0027_desk_presence
Revises: 0026_account_opening
Create Date: 2026-12-05 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brokercare.core.database import UTCDateTime

revision: str = "0027_desk_presence"
down_revision: str | Sequence[str] | None = "0026_account_opening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agent_profiles") as batch:
        batch.add_column(sa.Column("last_seen_at", UTCDateTime(timezone=True), nullable=True))
        batch.create_index("ix_agent_profiles_last_seen_at", ["last_seen_at"])
    op.create_table(
        "service_callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("skill", sa.String(24), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["service_conversations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id"),
    )
    op.create_index("ix_service_callbacks_customer_id", "service_callbacks", ["customer_id"])
    op.create_index("ix_service_callbacks_open", "service_callbacks", ["done_at", "due_at"])


def downgrade() -> None:
    op.drop_table("service_callbacks")
    with op.batch_alter_table("agent_profiles") as batch:
        batch.drop_index("ix_agent_profiles_last_seen_at")
        batch.drop_column("last_seen_at")
