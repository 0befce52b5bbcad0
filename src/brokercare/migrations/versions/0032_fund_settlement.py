"""Fund redemption settlement by fund type (the proceeds' settlement day and arrival), the per-IP
count of opening applications started, and the shareholder accounts applied for at opening.

Revision ID: 0032_fund_settlement
Revises: 0030_search_quota
Create Date: 2026-12-05 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brokercare.core.database import UTCDateTime

revision: str = "0032_fund_settlement"
down_revision: str | Sequence[str] | None = "0030_search_quota"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Redemptions confirmed before this revision were credited at confirmation: no settle_day.
    with op.batch_alter_table("fund_orders") as batch:
        batch.add_column(sa.Column("settle_day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("settled_at", UTCDateTime(), nullable=True))
    op.create_index("ix_fund_orders_settle_day", "fund_orders", ["settle_day"])
    # Opening applications started per source IP (its keyed hash) and hour/day, shared by processes.
    op.create_table(
        "onboarding_start_quota",
        sa.Column("ip_hash", sa.String(64), nullable=False),
        sa.Column("period", sa.String(4), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("ip_hash", "period", name=op.f("pk_onboarding_start_quota")),
    )
    # 中国结算 一码通 on the account (SH/SZ columns exist), and what the opening was issued.
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("one_code_no", sa.String(12), nullable=True))
    with op.batch_alter_table("onboarding_applications") as batch:
        for column in ("one_code_no", "sh_holder_no", "sz_holder_no"):
            batch.add_column(sa.Column(column, sa.String(12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("onboarding_applications") as batch:
        for column in ("sz_holder_no", "sh_holder_no", "one_code_no"):
            batch.drop_column(column)
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("one_code_no")
    op.drop_table("onboarding_start_quota")
    op.drop_index("ix_fund_orders_settle_day", table_name="fund_orders")
    with op.batch_alter_table("fund_orders") as batch:
        batch.drop_column("settled_at")
        batch.drop_column("settle_day")
