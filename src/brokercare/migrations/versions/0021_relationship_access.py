"""Relationship-based access: ``customers.advisor_id`` (the customer's assigned 投顾, beside the
manager) and ``security_access_reads``, the index of the ledger's ``access.read`` entries that
compliance searches by customer and by staff member.

Revision ID: 0021_relationship_access
Revises: 0020_security_hardening
Create Date: 2026-12-05 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brokercare.core.database import UTCDateTime

revision: str = "0021_relationship_access"
down_revision: str | Sequence[str] | None = "0020_security_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("advisor_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_customers_advisor_id"), "customers", ["advisor_id"])
    op.create_table(
        "security_access_reads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ledger_index", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("relationship", sa.String(length=24), nullable=False),
        sa.Column("reference", sa.String(length=48), nullable=True),
        sa.Column("what", sa.String(length=400), nullable=False),
        sa.Column("why", sa.String(length=200), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_access_reads")),
    )
    op.create_index("ix_security_access_reads_customer", "security_access_reads", ["customer_id", "id"])
    op.create_index("ix_security_access_reads_user", "security_access_reads", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_security_access_reads_user", table_name="security_access_reads")
    op.drop_index("ix_security_access_reads_customer", table_name="security_access_reads")
    op.drop_table("security_access_reads")
    op.drop_index(op.f("ix_customers_advisor_id"), table_name="customers")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE customers DROP COLUMN advisor_id")
    else:
        op.drop_column("customers", "advisor_id")
