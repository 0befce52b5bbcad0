"""Accounts: ``bank_transfers`` (银证转账 and their states) and ``reconciliation_items`` (the
differences each bank's statement shows, as tasks for operations).

Revision ID: 0016_bank_transfers
Revises: 0015_monitoring_outbox
Create Date: 2026-12-05 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import brokercare.core.database

revision: str = "0016_bank_transfers"
down_revision: str | Sequence[str] | None = "0015_monitoring_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = brokercare.core.database.UTCDateTime(timezone=True)
    money = brokercare.core.database.Money()
    op.create_table(
        "bank_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transfer_no", sa.String(length=24), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=4), nullable=False),
        sa.Column("amount", money, nullable=False),
        sa.Column("bank_name", sa.String(length=32), nullable=True),
        sa.Column("card_tail", sa.String(length=4), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("risk_measure_id", sa.Integer(), nullable=True),
        sa.Column("bank_ref", sa.String(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_at", utc, nullable=False),
        sa.Column("sent_at", utc, nullable=True),
        sa.Column("settled_at", utc, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_bank_transfers_account_id_accounts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_bank_transfers_customer_id_customers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_transfers")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_bank_transfers_idempotency_key")),
        sa.UniqueConstraint("transfer_no", name=op.f("uq_bank_transfers_transfer_no")),
    )
    with op.batch_alter_table("bank_transfers", schema=None) as batch_op:
        batch_op.create_index("ix_bank_transfers_account_day", ["account_id", "business_day"], unique=False)
        batch_op.create_index(batch_op.f("ix_bank_transfers_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_bank_transfers_state", ["state", "requested_at"], unique=False)
    op.create_table(
        "reconciliation_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank_name", sa.String(length=32), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=True),
        sa.Column("ours", money, nullable=True),
        sa.Column("bank", money, nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["transfer_id"], ["bank_transfers.id"],
                                name=op.f("fk_reconciliation_items_transfer_id_bank_transfers"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_items")),
        sa.UniqueConstraint("bank_name", "business_day", "reference", "kind",
                            name="uq_reconciliation_items_ref"),
    )
    with op.batch_alter_table("reconciliation_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reconciliation_items_business_day"), ["business_day"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reconciliation_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliation_items_business_day"))
    op.drop_table("reconciliation_items")
    with op.batch_alter_table("bank_transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_transfers_state")
        batch_op.drop_index(batch_op.f("ix_bank_transfers_customer_id"))
        batch_op.drop_index("ix_bank_transfers_account_day")
    op.drop_table("bank_transfers")
