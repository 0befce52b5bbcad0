"""The tamper-evident ledger: append-only entries and checkpoints (guarded by triggers), and the head.

Revision ID: 0003_ledger
Revises: 0002_advisory
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brokercare.core.database import UTCDateTime
from brokercare.ledger.models import APPEND_ONLY_TABLES, HEAD_ROW, guard_ddl

revision: str = "0003_ledger"
down_revision: str | Sequence[str] | None = "0002_advisory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("subject", sa.String(length=96), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.Column("tree_root", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=88), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(op.f("ix_ledger_entries_kind"), "ledger_entries", ["kind"], unique=False)
    op.create_index(op.f("ix_ledger_entries_subject"), "ledger_entries", ["subject"], unique=False)
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=88), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_checkpoints")),
        sa.UniqueConstraint("tree_size", name=op.f("uq_ledger_checkpoints_tree_size")),
    )
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("compact_range", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_head")),
    )
    conn = op.get_bind()
    for table in APPEND_ONLY_TABLES:
        for statement in guard_ddl(conn.dialect.name, table):
            conn.exec_driver_sql(statement)
    conn.exec_driver_sql(HEAD_ROW)


def downgrade() -> None:
    op.drop_table("ledger_head")
    op.drop_table("ledger_checkpoints")
    op.drop_index(op.f("ix_ledger_entries_subject"), table_name="ledger_entries")
    op.drop_index(op.f("ix_ledger_entries_kind"), table_name="ledger_entries")
    op.drop_table("ledger_entries")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ledger_refuse_change()")
