"""OTC fund orders (场外基金申购/赎回): ``fund_orders`` (the orders and their confirmation),
``fund_lots`` (units per confirmed subscription, for holding-period redemption fees) and
``fund_navs`` (the fund companies' published unit NAVs).

Revision ID: 0022_fund_orders
Revises: 0020_security_hardening
Create Date: 2026-12-05 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brokercare.core.database import UTCDateTime

revision: str = "0022_fund_orders"
down_revision: str | Sequence[str] | None = "0020_security_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _money(name: str, nullable: bool = True, scale: int = 2) -> sa.Column:
    return sa.Column(name, sa.Numeric(precision=18, scale=scale), nullable=nullable)


def _price(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Numeric(precision=14, scale=4), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "fund_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(length=24), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("fund_name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        _money("amount"),
        _money("units"),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("placed_at", UTCDateTime(), nullable=False),
        sa.Column("nav_day", sa.Date(), nullable=False),
        sa.Column("suitability", sa.String(length=16), nullable=True),
        sa.Column("suitability_confirmation_id", sa.Integer(), nullable=True),
        sa.Column("fee_schedule", sa.String(length=16), nullable=False),
        _price("nav"),
        _money("fee"),
        _money("proceeds"),
        sa.Column("fee_detail", sa.Text(), nullable=True),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_fund_orders_account_id_accounts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_fund_orders_customer_id_customers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["symbol"], ["instruments.symbol"],
                                name=op.f("fk_fund_orders_symbol_instruments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_orders")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_fund_orders_idempotency_key")),
        sa.UniqueConstraint("order_no", name=op.f("uq_fund_orders_order_no")),
    )
    op.create_index(op.f("ix_fund_orders_customer_id"), "fund_orders", ["customer_id"])
    op.create_index("ix_fund_orders_state_day", "fund_orders", ["state", "nav_day"])
    op.create_table(
        "fund_lots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("start_day", sa.Date(), nullable=False),
        _money("units", nullable=False),
        _money("remaining", nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_fund_lots_account_id_accounts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["order_id"], ["fund_orders.id"],
                                name=op.f("fk_fund_lots_order_id_fund_orders"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["symbol"], ["instruments.symbol"],
                                name=op.f("fk_fund_lots_symbol_instruments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_lots")),
        sa.UniqueConstraint("order_id", name=op.f("uq_fund_lots_order_id")),
    )
    op.create_index("ix_fund_lots_holding", "fund_lots", ["account_id", "symbol", "start_day"])
    op.create_table(
        "fund_navs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("nav_date", sa.Date(), nullable=False),
        _price("nav", nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fund_navs")),
        sa.UniqueConstraint("symbol", "nav_date", name=op.f("uq_fund_navs_symbol")),
    )


def downgrade() -> None:
    op.drop_table("fund_navs")
    op.drop_index("ix_fund_lots_holding", table_name="fund_lots")
    op.drop_table("fund_lots")
    op.drop_index("ix_fund_orders_state_day", table_name="fund_orders")
    op.drop_index(op.f("ix_fund_orders_customer_id"), table_name="fund_orders")
    op.drop_table("fund_orders")
