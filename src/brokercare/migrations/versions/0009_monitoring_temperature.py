"""Monitoring: market temperature per board and minute.

Revision ID: 0009_monitoring_temperature
Revises: 0008_assistant_kb
Create Date: 2026-11-28 02:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brokercare.core.database

revision: str = "0009_monitoring_temperature"
down_revision: str | Sequence[str] | None = "0008_assistant_kb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitor_temperatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("board", sa.String(length=12), nullable=False),
        sa.Column("minute", brokercare.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("at", brokercare.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("band", sa.String(length=8), nullable=False),
        sa.Column("breadth", sa.Float(), nullable=False),
        sa.Column("limit_up", sa.Integer(), nullable=False),
        sa.Column("limit_down", sa.Integer(), nullable=False),
        sa.Column("activity", sa.Float(), nullable=False),
        sa.Column("quoted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_temperatures")),
        sa.UniqueConstraint("board", "minute", name=op.f("uq_monitor_temperatures_board")),
    )
    op.create_index(
        op.f("ix_monitor_temperatures_minute"), "monitor_temperatures", ["minute"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_monitor_temperatures_minute"), table_name="monitor_temperatures")
    op.drop_table("monitor_temperatures")
