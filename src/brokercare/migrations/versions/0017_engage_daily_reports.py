"""Daily post-close reports: ``market_daily_closes`` (each instrument's close per trading day, the
market domain's), the customer's opt-in ``monitor_preferences.daily_report`` (monitoring's), and
``engagement_daily_reports`` (the report data each opted-in customer's push links to).

Revision ID: 0017_engage_daily_reports
Revises: 0016_bank_transfers
Create Date: 2026-12-05 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_engage_daily_reports"
down_revision: str | Sequence[str] | None = "0016_bank_transfers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "market_daily_closes",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("close", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.PrimaryKeyConstraint("day", "symbol", name=op.f("pk_market_daily_closes")),
    )
    with op.batch_alter_table("monitor_preferences") as batch:
        batch.add_column(sa.Column("daily_report", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "engagement_daily_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_engagement_daily_reports_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_daily_reports")),
        sa.UniqueConstraint("customer_id", "day", name=op.f("uq_engagement_daily_reports_customer_id")),
    )


def downgrade() -> None:
    op.drop_table("engagement_daily_reports")
    with op.batch_alter_table("monitor_preferences") as batch:
        batch.drop_column("daily_report")
    op.drop_table("market_daily_closes")
