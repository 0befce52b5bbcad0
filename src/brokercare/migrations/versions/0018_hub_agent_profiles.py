"""Service hub: ``agent_profiles``, how the hub routes to staff, off the ``users`` table.

Skills, chat slots and the team lead were columns of the security domain's ``users``; they are
the hub's routing data, so they move to the hub's own table (with the agent's presence). Every
non-customer login gets a profile with the values it had; the three columns are dropped.

Revision ID: 0018_hub_agent_profiles
Revises: 0017_engage_daily_reports
Create Date: 2026-12-05 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_hub_agent_profiles"
down_revision: str | Sequence[str] | None = "0017_engage_daily_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_profiles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("max_concurrent", sa.Integer(), nullable=False),
        sa.Column("team_lead_id", sa.Integer(), nullable=True),
        sa.Column("present", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_agent_profiles_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_agent_profiles")),
    )
    op.execute(
        """
        INSERT INTO agent_profiles (user_id, skills, max_concurrent, team_lead_id, present)
        SELECT id, skills, max_concurrent, team_lead_id, active
        FROM users WHERE role <> 'customer'
        """
    )
    # SQLite drops the columns in place (3.35+): a batch copy would drop and recreate ``users``,
    # and with foreign keys on, the drop would cascade to every table that references a login.
    for column in ("skills", "max_concurrent", "team_lead_id"):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE users DROP COLUMN {column}")
        else:
            op.drop_column("users", column)


def downgrade() -> None:
    op.add_column("users", sa.Column("skills", sa.JSON(), nullable=True))
    op.add_column("users", sa.Column("max_concurrent", sa.Integer(), nullable=True))
    op.add_column("users", sa.Column("team_lead_id", sa.Integer(), nullable=True))
    op.execute(
        """
        UPDATE users SET skills = (SELECT p.skills FROM agent_profiles p WHERE p.user_id = users.id),
                         max_concurrent = (SELECT p.max_concurrent FROM agent_profiles p WHERE p.user_id = users.id),
                         team_lead_id = (SELECT p.team_lead_id FROM agent_profiles p WHERE p.user_id = users.id)
        """
    )
    op.drop_table("agent_profiles")
