"""Engagement: leads for managers (``engagement_leads``), the proactive contacts the per-customer
frequency cap counts (``engagement_touches``) and managers' tasks (``engagement_tasks``); and
``market_daily_closes`` dropped — the quote store's ``daily_bars`` is the one store of closes
(rows of a day without a daily bar are copied over as close-only bars first).

Revision ID: 0023_engagement_leads
Revises: 0022_fund_orders
Create Date: 2026-12-05 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_engagement_leads"
down_revision: str | Sequence[str] | None = "0022_fund_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _closes_into_bars() -> None:
    op.execute(
        "INSERT INTO daily_bars (symbol, day, open, high, low, close, volume) "
        "SELECT c.symbol, c.day, c.close, c.close, c.close, c.close, 0 FROM market_daily_closes c "
        "WHERE NOT EXISTS (SELECT 1 FROM daily_bars b WHERE b.symbol = c.symbol AND b.day = c.day)"
    )


def upgrade() -> None:
    _closes_into_bars()
    op.drop_table("market_daily_closes")
    op.create_table(
        "engagement_leads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("need", sa.String(length=32), nullable=False),
        sa.Column("manager_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("talking_points", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("raised_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_engagement_leads_customer_id_customers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_leads")),
    )
    op.create_index("ix_engagement_leads_customer_need", "engagement_leads", ["customer_id", "need", "raised_on"])
    op.create_index(op.f("ix_engagement_leads_manager_id"), "engagement_leads", ["manager_id"])
    op.create_index(op.f("ix_engagement_leads_state"), "engagement_leads", ["state"])
    op.create_table(
        "engagement_touches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_engagement_touches_customer_id_customers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_touches")),
        sa.UniqueConstraint("customer_id", "kind", "ref", name=op.f("uq_engagement_touches_customer_id")),
    )
    op.create_index(op.f("ix_engagement_touches_day"), "engagement_touches", ["day"])
    op.create_table(
        "engagement_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("manager_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_engagement_tasks_customer_id_customers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_tasks")),
        sa.UniqueConstraint("key", name=op.f("uq_engagement_tasks_key")),
    )
    op.create_index(op.f("ix_engagement_tasks_manager_id"), "engagement_tasks", ["manager_id"])


def downgrade() -> None:
    op.drop_table("engagement_tasks")
    op.drop_table("engagement_touches")
    op.drop_table("engagement_leads")
    op.create_table(
        "market_daily_closes",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("close", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.PrimaryKeyConstraint("day", "symbol", name=op.f("pk_market_daily_closes")),
    )
    op.execute("INSERT INTO market_daily_closes (day, symbol, close) SELECT day, symbol, close FROM daily_bars")
