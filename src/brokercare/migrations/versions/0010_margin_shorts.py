"""Accounts: shares owed from securities lending (融券), re-priced by the margin watch.

Revision ID: 0010_margin_shorts
Revises: 0009_monitoring_temperature
Create Date: 2026-11-28 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_margin_shorts"
down_revision: str | Sequence[str] | None = "0009_monitoring_temperature"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "margin_shorts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["margin_contracts.id"],
            name=op.f("fk_margin_shorts_contract_id_margin_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["symbol"], ["instruments.symbol"], name=op.f("fk_margin_shorts_symbol_instruments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_margin_shorts")),
        sa.UniqueConstraint("contract_id", "symbol", name=op.f("uq_margin_shorts_contract_id")),
    )
    op.create_index(
        op.f("ix_margin_shorts_contract_id"), "margin_shorts", ["contract_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_margin_shorts_contract_id"), table_name="margin_shorts")
    op.drop_table("margin_shorts")
