"""Security hardening: token versions (revocation on logout, password or role change) and the
TOTP secret of step-up authentication on ``users``; ``service_messages.text_enc``, the sealed text
as typed of a message whose personal numbers were masked; ``security_role_grants``, privileged
roles waiting for a second administrator's approval.

Revision ID: 0020_security_hardening
Revises: 0019_quotes_store
Create Date: 2026-12-05 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_security_hardening"
down_revision: str | Sequence[str] | None = "0019_quotes_store"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "security_role_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_security_role_grants_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_role_grants")),
    )
    op.create_index(op.f("ix_security_role_grants_user_id"), "security_role_grants", ["user_id"])
    op.add_column("service_messages", sa.Column("text_enc", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("users", sa.Column("totp_secret_enc", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def _drop_column(table: str, column: str) -> None:
    # SQLite drops the column in place (3.35+): a batch copy would drop and recreate the table,
    # and with foreign keys on, dropping ``users`` would cascade to every table referencing a login.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column(table, column)


def downgrade() -> None:
    op.drop_index(op.f("ix_security_role_grants_user_id"), table_name="security_role_grants")
    op.drop_table("security_role_grants")
    _drop_column("service_messages", "text_enc")
    for column in ("totp_last_step", "totp_secret_enc", "token_version"):
        _drop_column("users", column)
