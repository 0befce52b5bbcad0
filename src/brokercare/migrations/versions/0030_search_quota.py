"""Customer searches: each member of staff's count per minute in the database, shared by every
server process (it was counted per process, so N processes allowed N times the limit).

Revision ID: 0030_search_quota
Revises: 0029_tier_services
Create Date: 2026-12-05 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brokercare.core.database import UTCDateTime

revision: str = "0030_search_quota"
down_revision: str | Sequence[str] | None = "0029_tier_services"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_search_quota",
        sa.Column("user_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("customer_search_quota")
