"""Market: the quote store (``quotes``, ``minute_bars``, ``daily_bars``).

The latest price of each instrument with its time, the day's minute bars and the daily history a
broker loads with ``brokercare market load-bars``; valuations, volatilities, 20-day volumes, limit
prices and the market temperature read them instead of the shipped reference prices.

Revision ID: 0019_quotes_store
Revises: 0018_hub_agent_profiles
Create Date: 2026-12-05 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brokercare.core.database import UTCDateTime

revision: str = "0019_quotes_store"
down_revision: str | Sequence[str] | None = "0018_hub_agent_profiles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _price(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Numeric(precision=14, scale=4), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "quotes",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        _price("price"),
        _price("prev_close", nullable=True),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_quotes")),
    )
    op.create_index(op.f("ix_quotes_time"), "quotes", ["time"])
    op.create_table(
        "minute_bars",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        _price("open"), _price("high"), _price("low"), _price("close"),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("symbol", "time", name=op.f("pk_minute_bars")),
    )
    op.create_table(
        "daily_bars",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _price("open"), _price("high"), _price("low"), _price("close"),
        sa.Column("volume", sa.Float(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("symbol", "day", name=op.f("pk_daily_bars")),
    )
    op.create_index(op.f("ix_daily_bars_day"), "daily_bars", ["day"])


def downgrade() -> None:
    op.drop_table("daily_bars")
    op.drop_table("minute_bars")
    op.drop_table("quotes")
